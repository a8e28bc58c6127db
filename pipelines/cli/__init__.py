"""The `retention` command: one module per subcommand, and the only code of the pipelines that prints."""

from __future__ import annotations

import argparse
import sys

from ..build import BuildError
from ..filters import FilterError
from ..importers import ImportInputError
from ..load import InputError
from ..models.causal_structure import CausalStructureError
from ..models.drivers import DriversInputError
from ..models.risk import RiskInputError
from ..models.whatif import WhatIfInputError
from ..settings import SettingsError
from ..spark import SparkUnavailableError
from . import bench, build, demo, drivers, imports, km, revenue, risk, serve, whatif
from .common import join_signed_values

COMMANDS = (demo, build, drivers, km, revenue, whatif, risk, imports, bench, serve)


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
    args = build_parser().parse_args(join_signed_values(argv))
    try:
        return args.func(args)
    except (InputError, SettingsError, DriversInputError, FilterError, WhatIfInputError, RiskInputError,
            ImportInputError, SparkUnavailableError, CausalStructureError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BuildError as exc:
        print(f"error: the build failed and the previous database was left as it was.\n{exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
