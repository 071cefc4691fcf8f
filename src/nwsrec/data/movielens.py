"""MovieLens-100K: fetch the files and convert them to TFRecord + vocab file.

The MovieLens-100K files ship inside the ``recbole==1.2.1`` wheel on the Python package
index under ``recbole/dataset_example/ml-100k/``: ``ml-100k.inter``, ``ml-100k.user`` and
``ml-100k.item``, tab-separated with typed headers (``user_id:token``, ...).
:func:`fetch_movielens` downloads that wheel with ``pip download --no-deps`` into a
temporary directory and extracts only those files (or copies them from ``from_dir``).

:func:`convert_movielens` writes one example per rating, label ``rating >= 4``, with the
slots (each an int64 id; 0 means missing, ids are 1.. in sorted order of the values):

    ====  ============  ==========================================
    slot  feature       from
    ====  ============  ==========================================
    1     user id       .inter user_id
    2     item id       .inter item_id
    3     age           .user age
    4     gender        .user gender
    5     occupation    .user occupation
    6     zip code      .user zip_code
    7     release year  .item release_year
    8     genres        .item class / genre (multi-valued, by space)
    ====  ============  ==========================================

split ``"random"`` (a seeded 20% test share) or ``"time"`` (the latest 20% of ratings).

Example:
    >>> raw = fetch_movielens("runs/data/movielens-100k/raw")  # doctest: +SKIP
    >>> convert_movielens(raw, "runs/data/movielens-100k")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from nwsrec.data.counts import IdCounter, write_id_counts
from nwsrec.data.writer import encode_example, write_tfrecords

logger = logging.getLogger(__name__)

__all__ = ["FILES", "RECBOLE_WHEEL", "SLOTS", "convert_movielens", "fetch_movielens"]

RECBOLE_WHEEL = "recbole==1.2.1"
WHEEL_PREFIX = "recbole/dataset_example/ml-100k/"
FILES = ("ml-100k.inter", "ml-100k.user", "ml-100k.item")
SLOTS: dict[int, str] = {
    1: "user_id",
    2: "item_id",
    3: "age",
    4: "gender",
    5: "occupation",
    6: "zip_code",
    7: "release_year",
    8: "genres",
}


def _check_files(directory: str, arg: str) -> None:
    missing = [f for f in FILES if not os.path.exists(os.path.join(directory, f))]
    if missing:
        raise FileNotFoundError(
            f"`{arg}` must hold {', '.join(FILES)}. Received: {arg}={directory!r} "
            f"without {', '.join(missing)}"
        )


def fetch_movielens(
    out_dir: str, from_dir: str | None = None, pip: Sequence[str] | None = None
) -> str:
    """Puts the three MovieLens-100K files into ``out_dir`` and returns it.

    Args:
        out_dir: target directory.
        from_dir: a directory already holding the files (no download).
        pip: the pip command (default ``[sys.executable, "-m", "pip"]``).

    Raises:
        FileNotFoundError: ``from_dir`` lacks a file.
        RuntimeError: the download failed (the message holds pip's output), or the wheel
            does not hold the files.
    """
    os.makedirs(out_dir, exist_ok=True)
    if from_dir is not None:
        _check_files(from_dir, "from_dir")
        for name in FILES:
            shutil.copyfile(os.path.join(from_dir, name), os.path.join(out_dir, name))
        return out_dir
    command = [*(pip or [sys.executable, "-m", "pip"]), "download", "--no-deps"]
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [*command, "--dest", tmp, RECBOLE_WHEEL], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"`pip download --no-deps {RECBOLE_WHEEL}` failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-800:]}. Use --from DIR with the files "
                f"{', '.join(FILES)} instead"
            )
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if not wheels:
            raise RuntimeError(f"`pip download {RECBOLE_WHEEL}` wrote no wheel into {tmp}")
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as wheel:
            for name in FILES:
                member = WHEEL_PREFIX + name
                try:
                    with wheel.open(member) as src, open(os.path.join(out_dir, name), "wb") as dst:
                        shutil.copyfileobj(src, dst)
                except KeyError:
                    raise RuntimeError(
                        f"the wheel {wheels[0]} must hold {member}. Received: no such member"
                    ) from None
    logger.info("MovieLens-100K files in %s", out_dir)
    return out_dir


def _read_table(path: str) -> tuple[list[str], list[list[str]]]:
    """Reads a RecBole atomic file: a typed header, then tab-separated rows."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(
                f"{path}:1: the file must have a header. Received: an empty file"
            ) from None
        names = [h.split(":", 1)[0].strip() for h in header]
        rows = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(names):
                raise ValueError(
                    f"{path}:{line}: a row must have {len(names)} fields ({', '.join(names)}). "
                    f"Received: {len(row)} fields"
                )
            rows.append(row)
    return names, rows


def _column(names: list[str], path: str, *candidates: str) -> int:
    for name in candidates:
        if name in names:
            return names.index(name)
    raise ValueError(
        f"{path}:1: the header must have a column {' or '.join(candidates)}. "
        f"Received: {', '.join(names)}"
    )


def convert_movielens(
    raw_dir: str,
    out_dir: str,
    split: str = "random",
    test_fraction: float = 0.2,
    seed: int = 0,
    num_files: int = 2,
) -> dict[str, Any]:
    """Converts the MovieLens-100K files to TFRecord files and a vocab file.

    Args:
        raw_dir: the directory holding :data:`FILES`.
        out_dir: where ``train-*.tfrecord``, ``test-*.tfrecord``, ``vocab.tsv`` and
            ``meta.json`` go.
        split: ``"random"`` (seeded) or ``"time"`` (latest ratings are the test split).
        test_fraction: share of ratings in the test split.
        seed: seed of the random split.
        num_files: files per split.

    Returns:
        The content of ``meta.json``: the slots, the vocab sizes, the example counts.
    """
    if split not in ("random", "time"):
        raise ValueError(f"`split` must be 'random' or 'time'. Received: split={split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"`test_fraction` must be in (0, 1). Received: test_fraction={test_fraction!r}"
        )
    _check_files(raw_dir, "raw_dir")
    inter_path, user_path, item_path = (os.path.join(raw_dir, f) for f in FILES)
    inter_names, inter = _read_table(inter_path)
    user_names, users = _read_table(user_path)
    item_names, items = _read_table(item_path)
    iu = _column(inter_names, inter_path, "user_id")
    ii = _column(inter_names, inter_path, "item_id")
    ir = _column(inter_names, inter_path, "rating")
    it = _column(inter_names, inter_path, "timestamp")
    user_cols = [
        _column(user_names, user_path, n) for n in ("age", "gender", "occupation", "zip_code")
    ]
    uu = _column(user_names, user_path, "user_id")
    item_id_col = _column(item_names, item_path, "item_id")
    year_col = _column(item_names, item_path, "release_year")
    genre_col = _column(item_names, item_path, "class", "genre", "genres")

    user_info = {row[uu]: [row[c] for c in user_cols] for row in users}
    item_info = {row[item_id_col]: (row[year_col], row[genre_col].split()) for row in items}
    raw_values: dict[int, list[list[str]]] = {s: [] for s in SLOTS}
    labels, times = [], []
    for line, row in enumerate(inter, start=2):
        try:
            rating, stamp = float(row[ir]), float(row[it])
        except ValueError:
            raise ValueError(
                f"{inter_path}:{line}: rating and timestamp must be numbers. "
                f"Received: rating={row[ir]!r}, timestamp={row[it]!r}"
            ) from None
        user, item = row[iu], row[ii]
        age, gender, occupation, zip_code = user_info.get(user, ["", "", "", ""])
        year, genres = item_info.get(item, ("", []))
        for slot, values in zip(
            SLOTS,
            ([user], [item], [age], [gender], [occupation], [zip_code], [year], genres),
            strict=False,
        ):
            raw_values[slot].append([v for v in values if v])
        raw_values[8][-1] = [g for g in genres if g]
        labels.append(1.0 if rating >= 4.0 else 0.0)
        times.append(stamp)

    vocab: dict[int, dict[str, int]] = {}
    for slot, rows in raw_values.items():
        distinct = sorted({v for row in rows for v in row})
        vocab[slot] = {v: i + 1 for i, v in enumerate(distinct)}  # 0: missing
    n = len(labels)
    n_test = max(1, int(round(n * test_fraction)))
    if split == "random":
        order = np.random.default_rng(seed).permutation(n)
    else:
        order = np.argsort(np.asarray(times), kind="stable")
    train_idx, test_idx = order[: n - n_test], order[n - n_test :]

    def records(indices: np.ndarray) -> list[bytes]:
        out = []
        for i in indices:
            ids = {
                f"slot_{slot}_0": [vocab[slot][v] for v in raw_values[slot][i]] or [0]
                for slot in SLOTS
            }
            out.append(encode_example(ids, {"label": [labels[i]]}))
        return out

    def one_id(indices: np.ndarray) -> list[str]:  # a missing value is written as id 0
        return [
            f"slot_{slot}_0"
            for slot in SLOTS
            if all(len(raw_values[slot][i]) <= 1 for i in indices)
        ]

    write_tfrecords(records(train_idx), out_dir, "train", num_files, one_id(train_idx))
    write_tfrecords(records(test_idx), out_dir, "test", num_files, one_id(test_idx))
    with open(os.path.join(out_dir, "vocab.tsv"), "w", encoding="utf-8") as f:
        f.write("slot_id\tvocab_size\n")
        for slot in SLOTS:
            f.write(f"{slot}\t{len(vocab[slot]) + 1}\n")
    counter = IdCounter(SLOTS)  # training records per id
    for i in train_idx:
        counter.add({slot: [vocab[slot][v] for v in raw_values[slot][i]] or [0] for slot in SLOTS})
    write_id_counts(
        out_dir,
        counter.arrays({s: len(vocab[s]) + 1 for s in SLOTS}),
        num_records=int(train_idx.size),
    )
    meta = {
        "slots": {str(s): name for s, name in SLOTS.items()},
        "vocab_sizes": {str(s): len(vocab[s]) + 1 for s in SLOTS},
        "num_train": int(train_idx.size),
        "num_test": int(test_idx.size),
        "positive_rate": float(np.mean(labels)) if labels else float("nan"),
        "split": split,
        "seed": seed,
    }
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    logger.info(
        "MovieLens-100K: %d train / %d test examples in %s",
        *[meta[k] for k in ("num_train", "num_test")],
        out_dir,
    )
    return meta
