"""`retention bench`: runs the benchmark program (`python -m benchmarks`), which measures the pipelines and the
dashboard together. Run as a program rather than imported, so the pipelines never import the dashboard."""

from __future__ import annotations

import argparse
import subprocess
import sys


def add_parser(sub) -> None:
    bench = sub.add_parser("bench", add_help=False,
                           help="time and measure every stage (scan, build, models, dashboard) on demo data at a "
                                "scale (retention bench --help for its options)")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_program(args.bench_args)


def run_program(argv: list[str]) -> int:
    return subprocess.run([sys.executable, "-m", "benchmarks", *argv]).returncode
