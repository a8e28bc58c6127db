"""`retention serve`: start the dashboard for several people, after the start-up checks refuse what is unsafe."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..access import RolesError
from ..serve import ENV_AUDIT_LOG, ENV_ROLES, DeployError, load_deploy_config, plan_serve


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `retention serve` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "serve", help="start the dashboard for several people: sign-in, roles, scopes and an audit log",
        description="Start the dashboard as configured in deploy.toml. It refuses a non-localhost address "
                    "without sign-in and a roles file with an error, before anything listens.")
    parser.add_argument("--config", type=Path, required=True, help="the deployment config (deploy.toml)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        config = load_deploy_config(args.config)
        plan = plan_serve(config)
    except (DeployError, RolesError) as error:
        print(f"error: {error}", file=sys.stderr)
        print("The server was not started.", file=sys.stderr)
        return 2
    for note in plan.notes:
        print(f"note: {note}", flush=True)
    mode = "shared mode: sign-in, roles from " + str(config.roles) if plan.shared else "without sign-in"
    print(f"Serving {config.database} on {config.address}:{config.port} ({mode}).", flush=True)
    # replace this process, so the server is the process that was started (signals reach it directly)
    inherited = {k: v for k, v in os.environ.items() if k not in (ENV_ROLES, ENV_AUDIT_LOG)}
    os.execvpe(plan.argv[0], plan.argv, {**inherited, "OPENBLAS_NUM_THREADS": "1", **plan.env})
