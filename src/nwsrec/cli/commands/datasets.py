"""``nwsrec datasets``: make the data of the built-in models.

  nwsrec datasets generate synthetic [--out DIR] [--seed N] [--num-train N] [--num-test N]
  nwsrec datasets generate criteo [--out DIR] [--seed N] [--scale F] [--num-train N] ...
  nwsrec datasets fetch movielens-100k [--out DIR] [--from DIR] [--split random|time]
  nwsrec datasets index PATTERN [--compression auto|none|GZIP|ZLIB]

generate writes the seeded synthetic data (default runs/data/synthetic, the synthetic
model's data_dir) with truth.json, the known best widths; `generate criteo` writes
the Criteo-shaped synthetic data (26 slots sized after the Criteo Kaggle categorical
fields times --scale, Zipf ids; default runs/data/criteo-synth, the criteo_synth
model's data_dir) with truth.json and id_counts.npz. fetch downloads the
recbole==1.2.1 wheel with `pip download --no-deps`, extracts only
recbole/dataset_example/ml-100k/* (or copies the files from --from DIR) and converts them
(default runs/data/movielens-100k, the movielens model's data_dir).
index reads TFRecord files written by another tool and records, in one_id_slots.json
beside them, the slots with one id in every record: the input pipeline then parses those
as one fixed id instead of a list (nwsrec's own writers record it as they write).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Adds the ``datasets`` sub-command."""
    parser = subparsers.add_parser(
        "datasets",
        help="generate or fetch the data of the built-in models",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    generate = actions.add_parser("generate", help="generate the synthetic data")
    generate.add_argument("name", choices=["synthetic", "criteo"])
    generate.add_argument(
        "--out",
        default=None,
        help="output directory (default runs/data/synthetic or runs/data/criteo-synth)",
    )
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--num-train", type=int, default=None)
    generate.add_argument("--num-test", type=int, default=None)
    generate.add_argument("--vocab-size", type=int, default=None, help="ids per slot")
    generate.add_argument(
        "--pair-ranks", default=None, help="ranks of the interacting signal-slot pairs, e.g. 1,2,4"
    )
    generate.add_argument("--num-noise-slots", type=int, default=None)
    generate.add_argument(
        "--scale",
        type=float,
        default=None,
        help="criteo: the factor on the Criteo Kaggle field sizes (default 0.01)",
    )
    index = actions.add_parser(
        "index", help="record the one-id slots of TFRecord files (a faster parse)"
    )
    index.add_argument("pattern", help="glob of the TFRecord files, e.g. 'data/train-*'")
    index.add_argument(
        "--compression",
        choices=["auto", "none", "GZIP", "ZLIB"],
        default="auto",
        help="compression of the files (auto: found by the magic bytes)",
    )
    fetch = actions.add_parser("fetch", help="fetch and convert MovieLens-100K")
    fetch.add_argument("name", choices=["movielens-100k"])
    fetch.add_argument("--out", default="runs/data/movielens-100k", help="output directory")
    fetch.add_argument("--from", dest="from_dir", help="a directory holding the ml-100k files")
    fetch.add_argument("--split", choices=["random", "time"], default="random")
    fetch.add_argument("--seed", type=int, default=0, help="seed of the random split")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generates, fetches or indexes the data set; returns the exit status."""
    if args.action == "index":
        return _index(args)
    if args.action == "generate" and args.name == "criteo":
        return _generate_criteo(args)
    if args.action == "generate":
        import dataclasses

        if args.scale is not None:
            raise ValueError(
                f"`--scale` must be used with `generate criteo`. Received: --scale {args.scale}"
            )
        args.out = args.out or "runs/data/synthetic"

        from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic

        config = SyntheticConfig(seed=args.seed)
        changes = {
            "num_train": args.num_train,
            "num_test": args.num_test,
            "vocab_size": args.vocab_size,
            "num_noise_slots": args.num_noise_slots,
        }
        if args.pair_ranks is not None:
            try:
                changes["pair_ranks"] = tuple(int(r) for r in args.pair_ranks.split(","))
            except ValueError:
                raise ValueError(
                    "`--pair-ranks` must be comma-separated integers. "
                    f"Received: --pair-ranks {args.pair_ranks!r}"
                ) from None
        config = dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
        truth = generate_synthetic(args.out, config)
        print(
            f"synthetic data in {args.out}: {config.num_slots} slots, "
            f"{config.num_train} train / {config.num_test} test examples"
        )
        print(f"  signal slots {truth.signal_slots()}")
        print(f"  noise slots  {truth.noise_slots()}")
        print(f"  Bayes-optimal test AUC {truth.bayes_test_auc:.4f}")
        return 0
    from nwsrec.data.movielens import convert_movielens, fetch_movielens

    raw = fetch_movielens(os.path.join(args.out, "raw"), from_dir=args.from_dir)
    meta = convert_movielens(raw, args.out, split=args.split, seed=args.seed)
    print(
        f"MovieLens-100K in {args.out}: {meta['num_train']} train / {meta['num_test']} test "
        f"examples, positive rate {meta['positive_rate']:.3f}, {args.split} split"
    )
    return 0


def _generate_criteo(args: argparse.Namespace) -> int:
    from nwsrec.data.criteo import CriteoConfig, generate_criteo

    for flag, value in (
        ("--vocab-size", args.vocab_size),
        ("--pair-ranks", args.pair_ranks),
        ("--num-noise-slots", args.num_noise_slots),
    ):
        if value is not None:
            raise ValueError(
                f"`{flag}` must be used with `generate synthetic` (criteo's slots are sized "
                f"by --scale). Received: {flag} {value}"
            )
    changes = {"num_train": args.num_train, "num_test": args.num_test, "scale": args.scale}
    config = CriteoConfig(seed=args.seed, **{k: v for k, v in changes.items() if v is not None})
    out = args.out or "runs/data/criteo-synth"
    truth = generate_criteo(out, config)
    rows = [truth.slots[s].rows for s in sorted(truth.slots)]
    print(
        f"criteo-shaped data in {out}: 26 slots ({min(rows)} to {max(rows)} rows, "
        f"{sum(rows)} in all, scale {config.scale}), {config.num_train} train / "
        f"{config.num_test} test examples"
    )
    print(f"  signal slots {truth.signal_slots()}")
    print(f"  noise slots  {truth.noise_slots()}")
    print(f"  Bayes-optimal test AUC {truth.bayes_test_auc:.4f}")
    return 0


def _index(args: argparse.Namespace) -> int:
    from nwsrec.data.one_id import ONE_ID_FILE
    from nwsrec.data.one_id_index import index_one_id_slots

    compression = "" if args.compression == "none" else args.compression
    found = index_one_id_slots(args.pattern, compression)
    for path, names in found.items():
        print(f"{path}: {len(names)} one-id slots" + (f" ({', '.join(names)})" if names else ""))
    common = set.intersection(*(set(names) for names in found.values()))
    print(
        f"{len(found)} files indexed in {ONE_ID_FILE}; {len(common)} slots hold one id in "
        "every record of every file"
    )
    return 0
