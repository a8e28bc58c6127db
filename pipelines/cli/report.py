"""`retention report` and `retention digest`: the PDF briefs, the digests and the alerts, made by the dashboard's
reports (`python -m dashboard.reports`). Run as a program rather than imported, so the pipelines never import the
dashboard."""

from __future__ import annotations

import argparse
import subprocess
import sys


def add_parser(sub) -> None:
    for name, text in (("report", "the investment case or the overview as a PDF brief (retention report --help)"),
                       ("digest", "send each person's digest, or check the alerts, once per period and build "
                                  "(retention digest --help)")):
        parser = sub.add_parser(name, add_help=False, help=text)
        parser.add_argument("report_args", nargs=argparse.REMAINDER)
        parser.set_defaults(func=run, report_command=name)


def run(args: argparse.Namespace) -> int:
    return run_program([args.report_command, *args.report_args])


def run_program(argv: list[str]) -> int:
    return subprocess.run([sys.executable, "-m", "dashboard.reports", *argv]).returncode
