"""`retention demo`: write the demo dataset with planted, known effects."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..demo import generate_demo


def add_parser(sub) -> None:
    demo = sub.add_parser("demo", help="write the demo dataset with planted, known effects")
    demo.add_argument("--accounts", type=int, default=5000, help="number of accounts (default 5000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)")
    demo.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder (default data/demo)")
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = generate_demo(
        out_dir=args.out,
        n_accounts=args.accounts,
        seed=args.seed,
        file_format=args.format,
        progress=lambda message: print(f"  {message}", flush=True),
    )
    print(f"Demo data written to {args.out} (as-of {result.as_of}).")
    return 0
