"""The `retention` command: one module per subcommand, and the only code of the pipelines that prints.

Exit codes: 0 done; 2 something the person gave cannot be used (any RetentionError, or argparse's own usage
error), with a message and no traceback; 1 a build that failed on inputs it had accepted (BuildError: a failed
audit), the previous database left as it was."""

from __future__ import annotations

import argparse
import sys

from ..build import BuildError
from ..errors import RetentionError
from . import bench, build, demo, drivers, evaluate, forecast, imports, km, report, revenue, risk, serve, whatif
from .common import join_signed_values

COMMANDS = (demo, build, drivers, km, revenue, whatif, risk, forecast, evaluate, report, imports, bench, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retention",
        description="Retention analytics for SaaS customer support: which parts of service keep customers.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # every option after it is the benchmark program's, --help included
        return bench.run_program(argv[1:])
    if argv[:1] in (["report"], ["digest"]):  # likewise the reports program's
        return report.run_program(join_signed_values(argv))
    args = build_parser().parse_args(join_signed_values(argv))
    try:
        return args.func(args)
    except RetentionError as exc:  # what the person gave cannot be used: the message says what to change
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BuildError as exc:  # the inputs were accepted, the build itself broke (errors.py says why it is apart)
        print(f"error: the build failed and the previous database was left as it was.\n{exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
