"""`retention demo`: write the demo dataset with planted, known effects."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

from ..demo import COMMAND_INVOLUNTARY_SHARE, generate_demo


def add_parser(sub) -> None:
    demo = sub.add_parser("demo", help="write the demo dataset with planted, known effects")
    demo.add_argument("--accounts", type=int, default=5000, help="number of accounts (default 5000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)")
    demo.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder (default data/demo)")
    demo.add_argument("--involuntary-share", type=share, default=COMMAND_INVOLUNTARY_SHARE, metavar="SHARE",
                      help="plant involuntary churn (failed payments, which no service measure moves) as about this "
                           "share of all churn, e.g. 0.3 or 1/3, and give every churn a churn_reason in the accounts "
                           "file (default 1/3; 0: none, every churn one cause)")
    demo.set_defaults(func=run)


def share(text: str) -> float:
    """A share given as a decimal or a fraction (0.3, 1/3): a fraction is how a third is given exactly."""
    try:
        return float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a share: give a decimal or a fraction, e.g. 0.3 or 1/3") from None


def run(args: argparse.Namespace) -> int:
    result = generate_demo(
        out_dir=args.out,
        n_accounts=args.accounts,
        seed=args.seed,
        file_format=args.format,
        progress=lambda message: print(f"  {message}", flush=True),
        involuntary_share=args.involuntary_share,
    )
    print(f"Demo data written to {args.out} (as-of {result.as_of}).")
    return 0
