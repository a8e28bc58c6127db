"""`retention report` and `retention digest`: the briefs as PDF files, and the digests and alerts, from the command
line (and so from cron or a systemd timer). The only module of the reports that prints.

Run as `python -m dashboard.reports`; the `retention` command runs it as a program, since the pipelines never import
the dashboard. Exit codes as the rest of the CLI: 0 done, 2 something given cannot be used (with a message naming
it), 1 a delivery failed (the others went out; the failed one is tried again on the next run).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from dashboard.reports import brief, content, digest, pdf
from dashboard.reports.digest_config import load_digest_config
from pipelines.cli.common import join_signed_values, parse_date
from pipelines.errors import RetentionError
from pipelines.models.whatif import paired_changes
from pipelines.settings import WHATIF_HORIZON_DAYS, database_path


def _cost(text: str) -> float:
    try:
        value = float(text.replace(",", "").replace("$", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of dollars a year, e.g. 150000") from None
    if value < 0:
        raise argparse.ArgumentTypeError("the yearly cost cannot be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retention", description="Reports that leave the app.")
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", help="the investment case or the overview as a PDF brief",
                                 description="Write a PDF brief, with the numbers the app shows for the same choices.")
    kinds = report.add_subparsers(dest="kind", required=True)
    investment = kinds.add_parser(
        "investment", help="what improving service factors keeps, costs and pays back, on one page",
        description="Pair each --factor with a --change, in order: -50%% scales a time (first_response_hours), -5pp "
                    "shifts a rate (sla_breach_rate), +0.5 shifts csat.")
    investment.add_argument("--factor", action="append", default=[], required=True, help="a service factor (repeatable)")
    investment.add_argument("--change", action="append", default=[], required=True,
                            help="its change: -50%%, -5pp or +0.5 (repeatable, paired with --factor in order)")
    investment.add_argument("--cost", type=_cost, default=None, help="the change's yearly cost in dollars (for ROI "
                                                                     "and payback; none is assumed)")
    investment.add_argument("--horizon-days", type=int, default=WHATIF_HORIZON_DAYS,
                            help=f"horizon in days (default {WHATIF_HORIZON_DAYS})")
    overview = kinds.add_parser("overview", help="the KPIs against a year earlier, the forecast, the trend, the "
                                                 "cohorts and the findings, on two pages")
    for sub in (investment, overview):
        sub.add_argument("--db", type=Path, default=database_path(), help="the built database")
        sub.add_argument("--filter", action="append", default=[], help="COLUMN=VALUE (repeatable), as in the app")
        sub.add_argument("--out", type=Path, required=True, help="the PDF file to write")

    send = commands.add_parser(
        "digest", help="send each person's digest (or, with --alerts, check the alerts), once per period and build",
        description="Meant for cron or a systemd timer (README: Reports that leave the app).")
    send.add_argument("--config", type=Path, required=True, help="the digest file (deploy/digest.toml)")
    send.add_argument("--period", choices=("weekly", "monthly"), default=None,
                      help="the period (default: the file's period)")
    send.add_argument("--alerts", action="store_true", help="check the alert rules instead of sending digests "
                                                            "(run after each build)")
    send.add_argument("--dry-run", action="store_true", help="make everything and say what would go out; send and "
                                                            "record nothing")
    send.add_argument("--on", type=parse_date, default=None, help="the day the run counts as (default today); it names "
                                                             "the period")
    return parser


def run_report(args: argparse.Namespace) -> int:
    con, info = content.open_build(args.db)
    try:
        filters = tuple(args.filter)
        made_at = datetime.now(timezone.utc)
        if args.kind == "investment":
            changes = tuple(paired_changes(args.factor, args.change))
            print("Estimating the case…", file=sys.stderr, flush=True)
            case = content.investment_case(con, info, changes, args.horizon_days,
                                           args.cost, filters)
            html = brief.investment_html(case, made_at)
        else:
            print("Gathering the overview and its forecast…", file=sys.stderr, flush=True)
            html = brief.overview_html(content.overview(con, info, filters), content.forecast_view(con, info, filters),
                                       made_at)
    finally:
        con.close()
    document = pdf.html_to_pdf(html)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(document)
    print(f"Wrote {args.out} ({len(document) / 1024:,.0f} KB).")
    return 0


def run_digest(args: argparse.Namespace) -> int:
    config = load_digest_config(args.config)
    progress = lambda text: print(text, flush=True)  # noqa: E731
    if args.alerts:
        outcomes = digest.run_alerts(config, args.dry_run, progress)
    else:
        on = args.on or datetime.now(timezone.utc).date()
        period = args.period or config.period
        print(f"{period.capitalize()} digests for {digest.period_label(period, on)}, "
              f"{len(config.recipients)} people{' (dry run)' if args.dry_run else ''}", flush=True)
        outcomes = digest.send_digests(config, period, on, args.dry_run, progress)
    for outcome in outcomes:
        print(f"{outcome.recipient} by {outcome.channel}: {outcome.status} ({outcome.detail})")
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"error: {len(failed)} deliveries failed; they are tried again on the next run.", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(join_signed_values(list(sys.argv[1:] if argv is None else argv)))
    try:
        return run_report(args) if args.command == "report" else run_digest(args)
    # what was given cannot be used (a what-if that cannot be made for these choices is a ValueError): the message
    # says why
    except (RetentionError, pdf.PdfUnavailable, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
