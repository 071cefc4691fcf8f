"""``nwsrec convert INPUT... --out DIR --slot COLUMN=SLOT_ID ... --label COLUMN``.

Converts CSV/TSV files into sharded TFRecord files of tf.train.Example plus vocab.tsv
(slot_id<TAB>vocab size), which a model reads through params["vocab_file_path"].

Each --slot column becomes the int64 feature slot_{SLOT_ID}_0: ids from a vocabulary
built on the fly (shared by all INPUT files of one call, kept in vocabularies.json) or,
with --hash-size N, crc32(value) % N. --multi COLUMN=SEP splits a slot column into
several ids. --label is the float label; each --dense column is one float of the feature
"dense". Without a header (--no-header) columns are 0-based indices.

--test-fraction F --seed S splits the rows (of all INPUT files) into train-* and test-*
by a seeded draw per row. --vocab-from DIR reuses the vocabularies of an earlier
conversion, so later files (new days, serving traffic) map values to the same ids; a
value outside them maps to the slot's out-of-vocabulary id (the last row vocab.tsv
counts), and the summary reports how many per slot. id_counts.npz (training records per
id, per slot) is written next to vocab.tsv. Converting into a directory that already
holds data is an error unless --overwrite.

Example:
  nwsrec convert clicks.csv --out data/ --slot user=1 --slot item=2 --label clicked \\
      --test-fraction 0.2 --seed 0
  nwsrec convert train.csv test.csv --out data/ --slot user=1 --slot item=2 \\
      --slot genres=3 --multi 'genres=|' --label clicked --dense age --shards 4 --gzip

Progress (rows, rows/s) goes to stderr; the summary to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

__all__ = ["parse_assignment", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``convert`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "convert",
        help="convert CSV/TSV files into sharded TFRecord files and vocab.tsv",
        description=(__doc__ or "").partition("\n\n")[2] or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="CSV/TSV files (.gz too)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument(
        "--slot",
        action="append",
        required=True,
        metavar="COLUMN=SLOT_ID",
        help="a categorical column and its slot id (repeat for each slot)",
    )
    parser.add_argument("--label", required=True, metavar="COLUMN", help="the label column")
    parser.add_argument(
        "--multi",
        action="append",
        default=[],
        metavar="COLUMN=SEP",
        help="a multi-valued slot column and its separator (repeatable)",
    )
    parser.add_argument(
        "--dense", action="append", default=[], metavar="COLUMN", help="a dense float column"
    )
    parser.add_argument(
        "--dense-default",
        type=float,
        metavar="X",
        help="value of an empty dense cell (default: an empty dense cell is an error)",
    )
    parser.add_argument(
        "--hash-size", type=int, metavar="N", help="hash values into N ids (no vocabulary)"
    )
    parser.add_argument("--shards", type=int, default=1, metavar="N", help="files per input")
    parser.add_argument("--gzip", action="store_true", help="gzip the TFRecord files")
    parser.add_argument(
        "--delimiter",
        metavar="D",
        help="field separator ('tab' or '\\t' for a tab); default by extension: .tsv tab, "
        "else comma",
    )
    parser.add_argument(
        "--no-header", action="store_true", help="no header line: columns are 0-based indices"
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        metavar="F",
        help="hold this fraction of the rows out as test-* (the rest: train-*)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="the split's seed")
    parser.add_argument(
        "--vocab-from",
        metavar="DIR",
        help="reuse the vocabularies of an earlier conversion (unknown values: OOV id)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the data already in --out"
    )
    parser.add_argument(
        "--progress-every",
        type=int,
        default=100_000,
        metavar="N",
        help="report progress on stderr every N rows (default 100000)",
    )
    parser.set_defaults(func=run)


def parse_assignment(text: str, option: str) -> tuple[str, str]:
    """Split ``COLUMN=VALUE`` at its last ``=`` (a column name may contain ``=``).

    Raises:
        ValueError: naming the option, if there is no ``=`` or a side is empty.

    Example:
        >>> parse_assignment("genres=|", "--multi")
        ('genres', '|')
    """
    column, sep, value = text.rpartition("=")
    if not sep or not column or not value:
        raise ValueError(f"`{option}` must be COLUMN=VALUE. Received: {option} {text!r}")
    return column, value


def _column(text: str, no_header: bool, option: str) -> str | int:
    if not no_header:
        return text
    if not (text.isascii() and text.isdigit()):
        raise ValueError(
            f"`{option}` must be a 0-based column index with --no-header. Received: {text!r}"
        )
    return int(text)


def _delimiter(text: str | None) -> str | None:
    if text is None:
        return None
    if text.lower() in ("tab", "\\t", "\t"):
        return "\t"
    if len(text) != 1:
        raise ValueError(f"`--delimiter` must be one character or 'tab'. Received: {text!r}")
    return text


def run(args: argparse.Namespace) -> int:
    """Convert the inputs; print a summary; return the exit status."""
    from nwsrec.data.convert import ConvertProgress, convert_csv

    slots: dict[str | int, int] = {}
    for text in args.slot:
        column, slot_text = parse_assignment(text, "--slot")
        if not (slot_text.isascii() and slot_text.isdigit()):
            raise ValueError(
                f"`--slot` must be COLUMN=SLOT_ID with an integer id. Received: {text!r}"
            )
        slots[_column(column, args.no_header, "--slot")] = int(slot_text)
    multi = {}
    for text in args.multi:
        column, separator = parse_assignment(text, "--multi")
        multi[_column(column, args.no_header, "--multi")] = separator
    dense = [_column(text, args.no_header, "--dense") for text in args.dense]
    if args.shards < 1:
        raise ValueError(f"`--shards` must be >= 1. Received: --shards {args.shards}")

    last = [time.perf_counter()]

    def report(state: ConvertProgress) -> None:
        now = time.perf_counter()
        if state.done or now - last[0] >= 0.5:
            last[0] = now
            print(
                f"convert: {state.rows:,} rows ({state.rows_per_second:,.0f} rows/s) "
                f"{'done' if state.done else state.path}",
                file=sys.stderr,
                flush=True,
            )

    result = convert_csv(
        args.inputs,
        args.out,
        slots=slots,
        label=_column(args.label, args.no_header, "--label"),
        multi=multi,
        dense=dense,
        dense_default=args.dense_default,
        hash_size=args.hash_size,
        num_shards=args.shards,
        gzip=args.gzip,
        delimiter=_delimiter(args.delimiter),
        has_header=not args.no_header,
        progress=report,
        progress_every=args.progress_every,
        test_fraction=args.test_fraction,
        seed=args.seed,
        vocab_from=args.vocab_from,
        overwrite=args.overwrite,
    )
    for path, rows in result.rows_per_input.items():
        print(f"{path}: {rows} rows")
    for path, files in result.files_per_input.items():
        split_rows = result.rows_per_split.get(path, result.rows_per_input.get(path))
        print(f"{path}: {split_rows} rows -> {len(files)} files")
        for file in files:
            print(f"  {file}")
    sizes = ", ".join(f"{s}: {n}" for s, n in result.vocab_sizes.items())
    print(f"vocab sizes ({result.vocab_path}): {sizes}")
    if result.vocabularies_path:
        print(f"vocabularies: {result.vocabularies_path}")
    if result.oov_per_slot:
        oov = ", ".join(f"{s}: {n}" for s, n in result.oov_per_slot.items())
        print(f"out-of-vocabulary cells per slot (vocabularies of {args.vocab_from}): {oov}")
    print(f"id counts: {result.id_counts_path}")
    print(f"{result.num_rows} rows in {result.seconds:.1f}s")
    return 0
