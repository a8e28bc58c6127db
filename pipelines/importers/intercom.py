"""Intercom conversations (API JSON: array, `{"data": [...]}`, `{"conversations": [...]}` or NDJSON) → interactions.

Timestamps are epoch seconds (UTC). first_response_at is `statistics.first_admin_reply_at` and
resolved_at `statistics.last_close_at`: both real instants, so both on the calendar clock. Intercom's
`time_to_admin_reply` excludes office hours and is not used, so the two bases are never mixed.
csat is `conversation_rating.rating`, already 1–5. handoffs = assignments − 1, never below 0.
A conversation links to an account by its first contact's external_id (else its id), looked up in
`--account-map` when given.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .reading import ImportInputError, read_account_map, read_table
from .units import parse_numbers, parse_timestamps
from .report import (ConversionReport, INTERACTION_ORDER, check_known_accounts, finish_rows, link_accounts,
                     reject_missing_and_duplicates, whole_numbers, write_outputs)
from .zendesk import handoffs_from_stations

CSAT_SCALE = "intercom conversation rating 1-5, as is"
# Intercom's priority is binary; "priority" is the one a team marked urgent enough to jump the queue
PRIORITY_MAP = {"priority": "high", "not_priority": "normal"}


def import_intercom(conversations: Path | str, out_dir: Path | str,
                    account_map: Path | str | None = None) -> ConversionReport:
    """Convert an Intercom conversations export into OUT/interactions.csv; return the conversion report."""
    out_dir = Path(out_dir)
    table = read_table(conversations, "Intercom conversations", list_keys=("conversations",))
    if table.file_format == "csv":
        raise ImportInputError(conversations, "expected the conversations JSON from Intercom's API (an array, "
                               '{"conversations": [...]} or one conversation per line), not a CSV')
    f = table.frame
    for needed in ("id", "created_at"):
        if needed not in f.columns:
            raise ImportInputError(conversations, f"conversation records need {needed!r}", column=needed)
    report = ConversionReport(source="intercom", input_path=Path(conversations), input_format=table.file_format,
                              rows_read=len(f) + len(table.unreadable))
    report.flag_unreadable(table)
    report.notes.extend(table.notes)
    report.info.update(hours_basis="calendar", csat_scale=CSAT_SCALE, timezone="UTC (epoch seconds)",
                       first_response_basis="statistics.first_admin_reply_at",
                       resolved_at_basis="statistics.last_close_at")
    rows = f["_row"]
    ids = table.values("id")
    frame = _conversation_columns(table, report)
    keys = pd.Series([_contact_key(v) for v in (f["contacts.contacts"] if "contacts.contacts" in f.columns
                      else f["contacts"] if "contacts" in f.columns else [None] * len(f))], index=f.index, dtype=object)
    mapping = None
    if account_map is not None:
        mapping = read_account_map(account_map)
        report.info["account_map"] = str(account_map)
    else:
        report.guesses.append("no --account-map: each conversation's first contact external_id (else contact id) is "
                              "used as the account id as it is")
    frame["account_id"] = link_accounts(report, rows, keys, "contact", mapping, "conversation has no contact",
                                        what="conversations")
    reject_missing_and_duplicates(report, rows, ids, "id")
    frame["interaction_id"] = ids
    interactions = finish_rows(report, frame, INTERACTION_ORDER)
    check_known_accounts(report, interactions["account_id"], out_dir)
    write_outputs(report, out_dir, {"interactions": interactions}, "interactions")
    return report


def _conversation_columns(table, report: ConversionReport) -> pd.DataFrame:
    """The contract columns a conversation record holds (times, channel, priority, rating, reopens, handoffs),
    each value checked; the account and id are linked afterwards."""
    f = table.frame
    rows = f["_row"]
    frame = pd.DataFrame({"_row": rows})

    created = parse_timestamps(table.values("created_at"), fmt="epoch_s")
    report.flag(created.bad | created.utc.isna(), rows, "created_at", "not epoch seconds", table.values("created_at"))
    frame["created_at"] = created.utc
    for column, source in (("first_response_at", "statistics.first_admin_reply_at"),
                           ("resolved_at", "statistics.last_close_at")):
        if source in f.columns:
            parsed = parse_timestamps(table.values(source), fmt="epoch_s")
            report.flag(parsed.bad, rows, source, "not epoch seconds", table.values(source), "value_emptied")
            frame[column] = parsed.utc
    if "statistics.time_to_admin_reply" in f.columns and "statistics.first_admin_reply_at" not in f.columns:
        report.notes.append("time_to_admin_reply excludes office hours, so it is not used for first_response_at "
                            "(that would mix business and calendar time)")
    if "source.type" in f.columns:
        frame["channel"] = table.values("source.type").str.lower()
    if "priority" in f.columns:
        raw = table.values("priority")
        severity = raw.str.lower().map(PRIORITY_MAP)
        report.flag(raw.notna() & severity.isna(), rows, "priority", "not priority or not_priority", raw, "value_emptied")
        frame["severity"] = severity
        report.guesses.append("Intercom priority is yes/no: 'priority' → high, 'not_priority' → normal")
    if "conversation_rating.rating" in f.columns:
        rating, bad = parse_numbers(table.values("conversation_rating.rating"))
        outside = rating.notna() & ~rating.isin([1, 2, 3, 4, 5])
        report.flag(bad | outside, rows, "conversation_rating.rating", "not a rating 1 to 5",
                    table.values("conversation_rating.rating"), "value_emptied")
        frame["csat"] = whole_numbers(rating.where(~outside))
    if "statistics.count_reopens" in f.columns:
        reopens, bad = parse_numbers(table.values("statistics.count_reopens"))
        report.flag(bad | (reopens < 0), rows, "statistics.count_reopens", "not a whole number >= 0",
                    table.values("statistics.count_reopens"), "value_emptied")
        frame["reopens"] = whole_numbers(reopens.where(reopens >= 0))
    if "statistics.count_assignments" in f.columns:
        assignments, bad = parse_numbers(table.values("statistics.count_assignments"))
        report.flag(bad | (assignments < 0), rows, "statistics.count_assignments", "not a whole number >= 0",
                    table.values("statistics.count_assignments"), "value_emptied")
        frame["handoffs"] = whole_numbers(handoffs_from_stations(assignments.where(assignments >= 0)))

    return frame


def _contact_key(value):
    """The first contact's external_id, else its id; `contacts` is a list or {"contacts": [...]}."""
    if isinstance(value, dict):
        value = value.get("contacts")
    if not isinstance(value, list) or not value:
        return None
    first = value[0] if isinstance(value[0], dict) else {}
    key = first.get("external_id") or first.get("id")
    return str(key) if key not in (None, "") else None

