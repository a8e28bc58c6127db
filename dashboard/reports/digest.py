"""The scheduled digests and the alerts: what each person hears, made as that person, sent once.

A digest is made as its recipient (auth.acting_for), so every query of dashboard.data narrows it to their scope as
the app does: a csm's digest and its PDF hold only their book. Roles without account downloads get no account list.

Sent once: each delivery is keyed by (period, recipient, build, channel) in the state file beside the audit log; a
key already there is not sent again, so running the command twice sends nothing twice, and a delivery that failed
is tried again on the next run without repeating the ones that went out. Every delivery and failure is a line of the
audit log. The state file is written whole to a temporary file and renamed, under a lock, so two runs at once never
interleave and a crash never leaves half a file.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from dashboard import audit, auth, data
from dashboard.charts import money, percent
from dashboard.labels import filters_in_words
from dashboard.reports import alerts, brief, content, pdf
from dashboard.reports.delivery import Attachment, DeliveryError, Message, SlackChannel
from dashboard.reports.digest_config import DigestConfig, Recipient
from pipelines.access import ACCOUNT_DOWNLOADS, LOCAL_ACCESS
from pipelines.errors import InputError, RetentionError

DIGEST_SENT, DIGEST_FAILED, ALERT_FIRED = "digest_sent", "digest_failed", "alert_fired"


def period_label(period: str, on: date) -> str:
    """The period a run on `on` belongs to: ISO week ("2026-W49") or month ("2026-12")."""
    if period == "weekly":
        year, week, _ = on.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{on:%Y-%m}"


# --- the state file -----------------------------------------------------------------------------


def save_state(path: Path, state: dict) -> None:
    """Write the state whole to a temporary file beside it and rename it over the old one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(state, out, indent=1, sort_keys=True, default=str)
    os.replace(temporary, path)


@contextmanager
def state_file(path: Path, write: bool = True) -> Iterator[dict]:
    """The state ({"sent": {key: detail}, "snapshots": {address: …}, "alerts": {name: …}}), held under a lock for
    the block and written back at its end, also when the block stops on an error, so what went out before it is
    recorded (unless `write` is false: a dry run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except json.JSONDecodeError as error:
            raise InputError(path, f"the digest state is not JSON ({error}); move it aside to start afresh, which "
                                   "sends this period's digests again") from None
        for part in ("sent", "snapshots", "alerts"):
            state.setdefault(part, {})
        try:
            yield state
        finally:
            if write:
                save_state(path, state)


# --- what a digest says --------------------------------------------------------------------------

# the figures a digest compares with the previous one: key, words, kind
FIGURES = (("active_accounts", "Active accounts", "count"), ("arr", "ARR", "money"),
           ("net_revenue_retention_12m", "Net revenue retention (12 months)", "share"),
           ("arr_at_risk", "ARR at risk in the next 90 days", "money"))


def _format(value: float | None, kind: str) -> str:
    if value is None or pd.isna(value):
        return "—"
    return money(value) if kind == "money" else percent(value) if kind == "share" else f"{value:,.0f}"


def _change(now: float | None, before: float | None, kind: str) -> str:
    if now is None or before is None or pd.isna(now) or pd.isna(before):
        return ""
    gap = now - before
    if kind == "share":
        return f" ({gap * 100:+.1f} pp)"
    text = money(abs(gap)) if kind == "money" else f"{abs(gap):,.0f}"
    return f" ({'+' if gap >= 0 else '−'}{text})"


@dataclass
class Digest:
    recipient: Recipient
    subject: str
    text: str
    snapshot: dict
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


def compose(con: duckdb.DuckDBPyConnection, info: dict, recipient: Recipient, previous: dict | None, label: str,
            config: DigestConfig, generated_at: datetime, briefs: dict[tuple[str, ...], bytes]) -> Digest:
    """The digest of one person, made as them: the figures against their previous digest, the accounts that entered
    their riskiest list and why, the month's churn, and the overview PDF of their accounts (from `briefs`, by scope,
    when someone of the same scope had it made in this run: the same accounts, the same build, the same file)."""
    access = recipient.access
    with auth.acting_for(access):
        view = content.overview(con, info, ())
        forecast = content.forecast_view(con, info, ())
        totals, riskiest, _, _ = data.cached_risk(con, info["build_id"], ())
        if access.scope not in briefs:
            briefs[access.scope] = pdf.html_to_pdf(brief.overview_html(view, forecast, generated_at))
        overview_pdf = briefs[access.scope]
    now = view.kpis.loc["as_of"]
    figures = {"active_accounts": float(now.active_accounts), "arr": float(now.arr),
               "net_revenue_retention_12m": float(now.net_revenue_retention_12m),
               "arr_at_risk": float(totals["arr_at_risk"] or 0.0)}
    top = riskiest.head(config.top_at_risk)
    snapshot = {"as_of": str(info["as_of_date"]), "build_id": info["build_id"], "figures": figures,
                "top_at_risk": list(top.account_id)}
    selection = ", ".join(filters_in_words(access.scope)) if access.scope else "all accounts"
    lines = [f"Retention digest for {access.who} ({access.describe()}): {selection}.",
             f"Data as of {info['as_of_date']:%d %b %Y}, build {info['build_id']}.", ""]
    before = (previous or {}).get("figures") or {}
    since = (f"since your previous digest (data as of {previous['as_of']})" if previous else
             "this is your first digest; changes are shown from the next one")
    lines.append(f"Where things stand, {since}:")
    for key, words, kind in FIGURES:
        lines.append(f"- {words}: {_format(figures.get(key), kind)}{_change(figures.get(key), before.get(key), kind)}")
    monthly = view.monthly.sort_values("month_start")
    if not monthly.empty:
        latest = monthly.iloc[-1]
        month = pd.Timestamp(latest.month_start)
        so_far = " so far" if bool(latest.get("is_partial_month", False)) else ""
        lines.append(f"- Churned in {month:%B %Y}{so_far}: {int(latest.churned_accounts):,} accounts, "
                     f"{money(latest.churned_mrr)} of MRR")
        if len(monthly) > 1:
            earlier = monthly.iloc[-2]
            lines.append(f"- Churned in {pd.Timestamp(earlier.month_start):%B %Y}: {int(earlier.churned_accounts):,} "
                         f"accounts, {money(earlier.churned_mrr)} of MRR; net revenue retention that month "
                         f"{percent(earlier.net_revenue_retention)}")
    if view.year_on_year:
        lines += ["", view.year_on_year]
    if forecast.sentence:
        lines += ["", "Where we are heading: " + forecast.sentence]
    lines.append("")
    if access.allows(ACCOUNT_DOWNLOADS):
        lines += _risk_lines(top, previous, config.top_at_risk)
    else:
        lines.append("Your role gets no account lists by e-mail; the At-risk page lists the accounts.")
    if config.app_url:
        lines += ["", f"Open the dashboard: {config.app_url}"]
    lines += ["", "The overview of these accounts is attached as a PDF. Figures are the dashboard's for the same "
                  "build; estimates come from observational data: associations, not proof of cause."]
    subject = (f"Retention digest {label}: {figures['active_accounts']:,.0f} active accounts"
               f"{_change(figures['active_accounts'], before.get('active_accounts'), 'count')}, "
               f"{money(figures['arr_at_risk'])} ARR at risk")
    return Digest(recipient, subject, "\n".join(lines), snapshot,
                  (Attachment(f"retention-overview-{label}.pdf", overview_pdf, "application/pdf"),))


def _risk_lines(top: pd.DataFrame, previous: dict | None, size: int) -> list[str]:
    """The accounts that entered the riskiest `size` since the previous digest, with their chance and why."""
    before = set((previous or {}).get("top_at_risk") or [])
    entered = top[~top.account_id.isin(before)] if previous else top
    heading = (f"Entered your {size} riskiest accounts since the previous digest:" if previous else
               f"Your {size} riskiest accounts:")
    if entered.empty:
        return [f"No account entered your {size} riskiest since the previous digest."]
    lines = [heading]
    for row in entered.itertuples():
        reasons = "; ".join(str(r) for r in (row.top_factor_1, row.top_factor_2) if isinstance(r, str) and r)
        lines.append(f"- {row.account_id}: {percent(row.churn_probability_90d, 0)} chance of churning in 90 days, "
                     f"{money(row.arr)} ARR" + (f" — why: {reasons}" if reasons else ""))
    return lines


# --- sending ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One delivery: to whom, how, and what happened ("sent", "already sent", "failed", "would send")."""

    recipient: str
    channel: str
    status: str
    detail: str


def _deliver(config: DigestConfig, channel: str, message: Message) -> str:
    if channel == "smtp" and config.smtp is not None:
        return config.smtp.send(message)
    if channel == "slack":
        return SlackChannel(config.slack_webhooks[message.recipient.lower()]).send(message)
    if channel == "folder" and config.folder is not None:
        return config.folder.send(message)
    raise DeliveryError(f"{channel}: not configured")


def _send_once(config: DigestConfig, state: dict, key_stem: str, message: Message, event: str, dry_run: bool,
               **detail) -> list[Outcome]:
    """Send `message` on each channel whose key is not yet in the state; record what happened."""
    outcomes = []
    for channel in config.channels:
        key = f"{key_stem}|{channel}"
        if key in state["sent"]:
            outcomes.append(Outcome(message.recipient, channel, "already sent", state["sent"][key]["at"]))
            continue
        if dry_run:
            outcomes.append(Outcome(message.recipient, channel, "would send", message.subject))
            continue
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            where = _deliver(config, channel, message)
        except DeliveryError as error:
            audit.append(config.audit_log, DIGEST_FAILED, who=message.recipient, channel=channel, key=key,
                         reason=str(error), **detail)
            outcomes.append(Outcome(message.recipient, channel, "failed", str(error)))
            continue
        state["sent"][key] = {"at": at, "where": where}
        audit.append(config.audit_log, event, who=message.recipient, channel=channel, key=key, where=where,
                     subject=message.subject, files=[a.file_name for a in message.attachments], **detail)
        outcomes.append(Outcome(message.recipient, channel, "sent", where))
    return outcomes


def send_digests(config: DigestConfig, period: str, on: date, dry_run: bool = False,
                 progress=lambda text: None) -> list[Outcome]:
    """Make and send this period's digest to every recipient, once."""
    con, info = content.open_build(config.database)
    label = period_label(period, on)
    outcomes: list[Outcome] = []
    generated_at = datetime.now(timezone.utc)
    briefs: dict[tuple[str, ...], bytes] = {}
    with state_file(config.state, write=not dry_run) as state:
        for number, recipient in enumerate(config.recipients, start=1):
            stem = f"digest|{label}|{recipient.address.lower()}|{info['build_id']}"
            if all(f"{stem}|{channel}" in state["sent"] for channel in config.channels):
                outcomes += [Outcome(recipient.address, c, "already sent", state["sent"][f"{stem}|{c}"]["at"])
                             for c in config.channels]
                continue
            progress(f"[{number}/{len(config.recipients)}] {recipient.address}: making the digest")
            previous = state["snapshots"].get(recipient.address.lower())
            if previous and previous.get("period") == label:
                previous = previous.get("before")  # this period's digest went out on another build: compare as it did
            try:
                digest = compose(con, info, recipient, previous, label, config, generated_at, briefs)
            except (RetentionError, ValueError) as error:  # e.g. a scope the build cannot apply: this person only
                reason = f"the digest could not be made: {error}"
                if not dry_run:
                    audit.append(config.audit_log, DIGEST_FAILED, who=recipient.address, key=stem, reason=reason)
                outcomes += [Outcome(recipient.address, c, "failed", reason) for c in config.channels]
                continue
            message = Message(key=stem.replace("|", "-"), recipient=recipient.address, subject=digest.subject,
                              text=digest.text, attachments=digest.attachments)
            sent = _send_once(config, state, stem, message, DIGEST_SENT, dry_run, period=label,
                              build_id=info["build_id"], scope=list(recipient.access.scope))
            outcomes += sent
            if any(o.status == "sent" for o in sent):
                state["snapshots"][recipient.address.lower()] = {**digest.snapshot, "period": label,
                                                                 "before": previous}
            if not dry_run:  # what went out is on disk before the next person's digest is made
                save_state(config.state, state)
    con.close()
    return outcomes


# --- alerts ------------------------------------------------------------------------------------------


def read_rule(con: duckdb.DuckDBPyConnection, info: dict, rule: alerts.Rule) -> alerts.Reading:
    """The rule's metric on its scope, read as the operator (every account) narrowed by the rule's scope."""
    with auth.acting_for(LOCAL_ACCESS):
        kpis, monthly, _ = data.cached_kpis(con, info["build_id"], rule.scope, info["as_of_date"])
        if alerts.METRICS[rule.metric].monthly:
            complete = monthly[~monthly.is_partial_month.astype(bool)].sort_values("month_start")
            series = complete.set_index("month_start")[rule.metric]
            if rule.rule == "beyond_noise":
                return alerts.noise_reading(series, rule)
            last = series.dropna()
            return alerts.threshold_reading(f"{pd.Timestamp(last.index[-1]):%Y-%m}" if len(last) else "",
                                            float(last.iloc[-1]) if len(last) else None, rule)
        if rule.metric == "active_accounts":
            value = float(kpis.loc["as_of"].active_accounts)
        else:
            value = float(data.cached_risk(con, info["build_id"], rule.scope)[0]["arr_at_risk"] or 0.0)
        return alerts.threshold_reading(str(info["as_of_date"]), value, rule)


def run_alerts(config: DigestConfig, dry_run: bool = False, progress=lambda text: None) -> list[Outcome]:
    """Read every rule on the current build, step its state, and tell its people when it fires (once)."""
    con, info = content.open_build(config.database)
    outcomes: list[Outcome] = []
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with state_file(config.state, write=not dry_run) as state:
        for rule in config.alerts:
            try:
                reading = read_rule(con, info, rule)
            except (RetentionError, ValueError) as error:  # e.g. a scope naming a column the build lacks
                # the state stays as it was: a rule that cannot be read neither fires nor re-arms
                outcomes.append(Outcome(rule.name, "-", "failed", f"could not be read: {error}"))
                continue
            previous = state["alerts"].get(rule.name)
            new_state, fired = alerts.next_state(previous, reading, at)
            progress(f"alert {rule.name!r}: {new_state['status'].upper()} — {reading.words}")
            state["alerts"][rule.name] = {**new_state, "words": reading.words, "build_id": info["build_id"]}
            if fired and not dry_run:
                audit.append(config.audit_log, ALERT_FIRED, alert=rule.name, metric=rule.metric,
                             scope=list(rule.scope), words=reading.words, build_id=info["build_id"])
            if new_state["status"] != alerts.TRIGGERED:
                continue
            # the people hear of each firing once; a delivery that failed is tried again while the alert stands
            selection = ", ".join(filters_in_words(rule.scope)) if rule.scope else "all accounts"
            for person in rule.notify:
                message = Message(
                    key=f"alert-{rule.name}-{new_state['since']}-{person}", recipient=person,
                    subject=f"Alert: {rule.name} ({selection})",
                    text=(f"{rule.name}: {reading.words}.\nAccounts: {selection}. Data as of "
                          f"{info['as_of_date']:%d %b %Y}, build {info['build_id']}.\nYou will not hear of it again "
                          "until it is back to normal and breaks the rule once more."
                          + (f"\nOpen the dashboard: {config.app_url}" if config.app_url else "")))
                stem = f"alert|{rule.name}|{new_state['since']}|{person.lower()}"
                outcomes += _send_once(config, state, stem, message, ALERT_FIRED + "_sent", dry_run,
                                       alert=rule.name)
    con.close()
    return outcomes

