"""`retention import ...`: register the subcommands; each prints its conversion report.

An export it cannot use at all raises ImportInputError, a RetentionError: the main CLI prints it and exits 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..importers import import_intercom, import_mapped, import_stripe, import_zendesk

DEFAULT_OUT = Path("data/import")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `retention import {zendesk,intercom,stripe,mapped}` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "import",
        help="convert a Zendesk, Intercom or Stripe export (or any file, with a mapping) into the data contract",
        description="Convert a tool's own export into contract files (accounts.csv, interactions.csv, "
                    "mrr_history.csv) for `retention build`. CSV, JSON arrays, {\"data\": [...]} and NDJSON are "
                    "detected. Every rejected row is listed in DIR/<kind>_rejects.csv.",
    )
    sub = parser.add_subparsers(dest="import_source", required=True)

    zendesk = sub.add_parser("zendesk", help="Zendesk tickets (Admin Center CSV or API JSON) → interactions.csv")
    zendesk.add_argument("tickets", type=Path, metavar="TICKETS", help="tickets export (CSV or API JSON)")
    zendesk.add_argument("--ticket-metrics", type=Path, metavar="FILE", help="ticket_metrics JSON (with API tickets)")
    zendesk.add_argument("--organizations", type=Path, metavar="FILE", help="organizations JSON or CSV")
    zendesk.add_argument("--timezone", metavar="TZ",
                         help="the Zendesk account's time zone, e.g. Europe/Berlin (CSV dates carry no offset; "
                              "default: assume UTC and say so)")
    zendesk.add_argument("--hours", choices=("calendar", "business"), default="calendar",
                         help="which clock response and resolution times are on (default calendar)")
    zendesk.add_argument("--account-key", choices=("organization", "external_id", "domain"), default="organization",
                         help="how tickets link to accounts (default organization)")
    zendesk.add_argument("--account-map", type=Path, metavar="CSV", help="source_key,account_id CSV")
    zendesk.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default {DEFAULT_OUT})")
    zendesk.set_defaults(func=_run_zendesk)

    intercom = sub.add_parser("intercom", help="Intercom conversations (API JSON) → interactions.csv")
    intercom.add_argument("conversations", type=Path, metavar="CONVERSATIONS")
    intercom.add_argument("--account-map", type=Path, metavar="CSV", help="source_key,account_id CSV")
    intercom.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR")
    intercom.set_defaults(func=_run_intercom)

    stripe = sub.add_parser("stripe", help="Stripe subscriptions (Dashboard CSV or API JSON) → accounts.csv, mrr_history.csv")
    stripe.add_argument("subscriptions", type=Path, metavar="SUBSCRIPTIONS")
    stripe.add_argument("--customers", type=Path, metavar="FILE", help="customers export (for e-mail domains)")
    stripe.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR")
    stripe.set_defaults(func=_run_stripe)

    mapped = sub.add_parser("mapped", help="any export, with a TOML mapping → accounts.csv or interactions.csv")
    mapped.add_argument("file", type=Path, metavar="FILE")
    mapped.add_argument("--mapping", type=Path, required=True, metavar="MAPPING.toml")
    mapped.add_argument("--kind", choices=("accounts", "interactions"), required=True)
    mapped.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR")
    mapped.set_defaults(func=_run_mapped)
    return parser


def _print(report) -> int:
    print(report.to_text(), flush=True)
    return 0


def _run_zendesk(args: argparse.Namespace) -> int:
    return _print(import_zendesk(args.tickets, args.out, ticket_metrics=args.ticket_metrics,
                                 organizations=args.organizations, timezone=args.timezone, hours=args.hours,
                                 account_key=args.account_key, account_map=args.account_map))


def _run_intercom(args: argparse.Namespace) -> int:
    return _print(import_intercom(args.conversations, args.out, account_map=args.account_map))


def _run_stripe(args: argparse.Namespace) -> int:
    return _print(import_stripe(args.subscriptions, args.out, customers=args.customers))


def _run_mapped(args: argparse.Namespace) -> int:
    return _print(import_mapped(args.file, args.mapping, args.kind, args.out))
