"""Zendesk tickets → the interactions contract, from the Admin Center CSV export or the API's JSON.

The CSV carries one row per ticket with its metrics in minutes, dates in the Zendesk account's time
zone without an offset (hence `timezone`), the organization by *name*, and satisfaction as
Not Offered / Offered / Good / Bad. The API's tickets carry no metrics: those come from the
ticket_metrics file, joined on ticket id; organizations give names, external ids and domains.

Rules (each has a test in tests/test_importers.py):
- one hours basis for every duration: `calendar` takes first reply from created_at + first reply
  minutes and resolution from solved_at; `business` takes both from created_at + the "within business
  hours" minutes (a solved_at is a calendar instant, so using it would mix the two). A missing
  business value stays empty, never filled from the calendar column.
- csat: good → 5, bad → 1, offered / unoffered / not offered → empty (a ticket not rated is not a 0).
- handoffs = assignee stations − 1, never below 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..settings import SEVERITIES
from .reading import ImportInputError, Table, clean_text, email_domain, normalise_key, read_account_map, read_table
from .units import add_duration, check_timezone, parse_numbers, parse_timestamps
from .report import (ConversionReport, INTERACTION_ORDER, ambiguous_guess, check_known_accounts, finish_rows,
                     link_accounts, reject_missing_and_duplicates, whole_numbers, write_outputs, zone_guess)

HOURS_BASES = ("calendar", "business")
ACCOUNT_KEYS = ("organization", "external_id", "domain")
CSAT_SCALE = "zendesk satisfaction: good -> 5, bad -> 1, offered/unoffered/not offered -> empty"
NOT_RATED = ("offered", "unoffered", "not offered")

# CSV headers as the Admin Center export documents them (matched case-insensitively)
CSV_MINUTES = {
    ("first_reply", "calendar"): "First reply time in minutes",
    ("first_reply", "business"): "First reply time in minutes within business hours",
    ("full_resolution", "calendar"): "Full resolution time in minutes",
    ("full_resolution", "business"): "Full resolution time in minutes within business hours",
}
JSON_MINUTES = {
    ("first_reply", "calendar"): "reply_time_in_minutes.calendar",
    ("first_reply", "business"): "reply_time_in_minutes.business",
    ("full_resolution", "calendar"): "full_resolution_time_in_minutes.calendar",
    ("full_resolution", "business"): "full_resolution_time_in_minutes.business",
}


def import_zendesk(
    tickets: Path | str,
    out_dir: Path | str,
    ticket_metrics: Path | str | None = None,
    organizations: Path | str | None = None,
    timezone: str | None = None,
    hours: str = "calendar",
    account_key: str = "organization",
    account_map: Path | str | None = None,
) -> ConversionReport:
    """Convert a Zendesk tickets export into OUT/interactions.csv; return the conversion report."""
    if hours not in HOURS_BASES:
        raise ImportInputError("--hours", f"{hours!r} is not one of {', '.join(HOURS_BASES)}")
    if account_key not in ACCOUNT_KEYS:
        raise ImportInputError("--account-key", f"{account_key!r} is not one of {', '.join(ACCOUNT_KEYS)}")
    timezone = check_timezone(timezone)
    out_dir = Path(out_dir)
    table = read_table(tickets, "Zendesk tickets", list_keys=("tickets", "results"))
    report = ConversionReport(source="zendesk", input_path=Path(tickets), input_format=table.file_format,
                              rows_read=len(table.frame) + len(table.unreadable))
    report.flag_unreadable(table)
    report.notes.extend(table.notes)
    report.info.update(hours_basis=hours, csat_scale=CSAT_SCALE, account_key=account_key)

    orgs = _read_organizations(organizations) if organizations else None
    if table.file_format == "csv":
        t = _normalise_csv(table, hours, report)
        if ticket_metrics:
            report.notes.append("--ticket-metrics ignored: the CSV export carries the metrics itself")
    else:
        t = _normalise_json(table, hours, ticket_metrics, report)

    frame = _convert(t, hours, timezone, report)
    mapping = _account_mapping(account_key, account_map, out_dir, report)
    keys, no_key_reason = _account_keys(t, account_key, orgs, mapping, report)
    frame["account_id"] = link_accounts(report, t["_row"], keys, _KEY_LABELS[account_key], mapping, no_key_reason)
    reject_missing_and_duplicates(report, t["_row"], t["id"], "ID")
    frame["interaction_id"] = t["id"]

    interactions = finish_rows(report, frame, INTERACTION_ORDER)
    check_known_accounts(report, interactions["account_id"], out_dir)
    write_outputs(report, out_dir, {"interactions": interactions}, "interactions")
    return report


_KEY_LABELS = {"organization": "organization", "external_id": "organization external_id", "domain": "requester domain"}


def _normalise_csv(table: Table, hours: str, report: ConversionReport) -> pd.DataFrame:
    """The CSV's columns under one set of names; unknown headers (Summation column, custom fields) ignored."""
    if table.column("ID") is None or table.column("Created at") is None:
        missing = [n for n in ("ID", "Created at") if table.column(n) is None]
        raise ImportInputError(table.path, f"not a Zendesk tickets export: no {' or '.join(missing)} column; "
                               f"columns found: {[c for c in table.frame.columns if c != '_row']}", column=missing[0])
    t = pd.DataFrame({"_row": table.frame["_row"]})
    t["id"] = table.values("ID")
    t["created"] = table.values("Created at")
    t["priority"] = table.values("Priority")
    t["channel"] = table.values("Via")
    t["csat"] = table.values("Satisfaction Score")
    t["reopens"] = table.values("Reopens")
    t["stations"] = table.values("Assignee stations")
    t["org_name"] = table.values("Organization")
    domain = table.values("Requester domain").map(normalise_key)
    t["domain"] = domain.fillna(table.values("Requester email").map(email_domain))
    t["org_id"] = None
    t.attrs["has"] = {
        "priority": table.column("Priority") is not None,
        "channel": table.column("Via") is not None,
        "csat": table.column("Satisfaction Score") is not None,
        "reopens": table.column("Reopens") is not None,
        "stations": table.column("Assignee stations") is not None,
    }
    _pick_durations(t, table, CSV_MINUTES, hours, report, solved=table.column("Solved at"),
                    rounded_hours=table.column("Resolution time"))
    custom = [c for c in table.frame.columns if str(c).strip().endswith("]")]
    if custom:
        report.notes.append(f"{len(custom)} custom field column(s) ignored: {custom}")
    if table.column("Summation column") is not None:
        report.notes.append("the export's 'Summation column' is ignored")
    return t


def _pick_durations(t: pd.DataFrame, table: Table, names: dict, hours: str, report: ConversionReport,
                    solved: str | None, rounded_hours: str | None, metrics: pd.DataFrame | None = None) -> None:
    """Choose the first-reply and resolution sources for the one hours basis; never the other basis."""
    source = metrics if metrics is not None else table.frame

    def column(role):
        name = names[(role, hours)]
        if metrics is not None:
            return name if name in metrics.columns else None
        return table.column(name)

    first = column("first_reply")
    t["first_reply_min"] = clean_text(source[first]) if first else None
    if first is None:
        report.notes.append(f"no {names[('first_reply', hours)]!r} column: first_response_at is not available")
    t["resolution_min"] = None
    t["solved"] = None
    t["resolution_hours"] = None
    if hours == "business":
        full = column("full_resolution")
        if full is None:
            report.notes.append(f"no {names[('full_resolution', hours)]!r} column: resolved_at is not available "
                                "(Solved at is a calendar time and would mix the two bases)")
        else:
            t["resolution_min"] = clean_text(source[full])
        t.attrs["resolution_basis"] = "created_at + full resolution minutes within business hours"
    elif solved is not None:
        t["solved"] = clean_text(source[solved])
        t.attrs["resolution_basis"] = "solved_at"
    elif rounded_hours is not None:
        t["resolution_hours"] = clean_text(source[rounded_hours])
        report.guesses.append("no 'Solved at' column: resolved_at = created_at + 'Resolution time', which Zendesk "
                              "rounds to the hour; export 'Solved at' for exact times")
        t.attrs["resolution_basis"] = "created_at + Resolution time (hours, rounded)"
    else:
        report.notes.append("no 'Solved at' column: resolved_at is not available")
        t.attrs["resolution_basis"] = None
    t.attrs.setdefault("has", {})
    t.attrs["has"]["first_reply"] = first is not None
    t.attrs["has"]["resolution"] = t.attrs["resolution_basis"] is not None
    if hours == "business" and first is None:
        raise ImportInputError(table.path, "--hours business needs the 'within business hours' minute columns, "
                               "and this export has none; export them or use --hours calendar",
                               column=names[("first_reply", hours)])


def _normalise_json(table: Table, hours: str, metrics_path, report: ConversionReport) -> pd.DataFrame:
    f = table.frame
    if "id" not in f.columns or "created_at" not in f.columns:
        raise ImportInputError(table.path, "not Zendesk API tickets: records need 'id' and 'created_at'",
                               column="id" if "id" not in f.columns else "created_at")
    t = pd.DataFrame({"_row": f["_row"]})
    t["id"] = table.values("id")
    t["created"] = table.values("created_at")
    t["priority"] = table.values("priority")
    t["channel"] = table.values("via.channel")
    t["csat"] = table.values("satisfaction_rating.score")
    t["org_id"] = table.values("organization_id")
    t["org_name"] = None
    t["domain"] = None
    t.attrs["has"] = {"priority": "priority" in f.columns, "channel": "via.channel" in f.columns,
                      "csat": "satisfaction_rating.score" in f.columns}
    if metrics_path is None:
        report.notes.append("no --ticket-metrics file: first_response_at, resolved_at, reopens and handoffs "
                            "are not available (the API's tickets carry no metrics)")
        t["reopens"] = t["stations"] = t["first_reply_min"] = t["resolution_min"] = t["solved"] = None
        t["resolution_hours"] = None
        t.attrs["has"].update(reopens=False, stations=False, first_reply=False, resolution=False)
        t.attrs["resolution_basis"] = None
        return t
    mtable = read_table(metrics_path, "Zendesk ticket metrics", list_keys=("ticket_metrics",))
    m = mtable.frame
    if "ticket_id" not in m.columns:
        raise ImportInputError(metrics_path, "ticket metrics records need 'ticket_id'", column="ticket_id")
    m = m.assign(ticket_id=mtable.values("ticket_id")).drop_duplicates("ticket_id", keep="first")
    joined = t[["id"]].merge(m, how="left", left_on="id", right_on="ticket_id")
    joined.index = t.index
    missing = t["id"].notna() & joined["ticket_id"].isna()
    if missing.any():
        report.notes.append(f"{int(missing.sum()):,} tickets have no row in the ticket metrics file: their "
                            "response, resolution, reopens and handoffs are empty")
    t["reopens"] = clean_text(joined["reopens"]) if "reopens" in joined else None
    t["stations"] = clean_text(joined["assignee_stations"]) if "assignee_stations" in joined else None
    t.attrs["has"].update(reopens="reopens" in joined, stations="assignee_stations" in joined)
    _pick_durations(t, mtable, JSON_MINUTES, hours, report,
                    solved="solved_at" if "solved_at" in joined else None, rounded_hours=None, metrics=joined)
    return t


def _convert(t: pd.DataFrame, hours: str, timezone: str | None, report: ConversionReport) -> pd.DataFrame:
    rows = t["_row"]
    has = t.attrs["has"]
    frame = pd.DataFrame({"_row": rows})
    created = parse_timestamps(t["created"], tz=timezone)
    report.flag(created.bad, rows, "Created at", "not a date and time", t["created"])
    report.flag(t["created"].isna(), rows, "Created at", "empty: a ticket needs its creation time", t["created"])
    frame["created_at"] = created.utc
    n_naive, n_ambiguous = created.n_naive, created.n_ambiguous

    if has.get("first_reply"):
        minutes, bad = parse_numbers(t["first_reply_min"])
        negative = minutes < 0
        report.flag(bad, rows, "first reply minutes", "not a number", t["first_reply_min"], "value_emptied")
        report.flag(negative, rows, "first reply minutes", "negative", t["first_reply_min"], "value_emptied")
        frame["first_response_at"] = add_duration(created.utc, minutes.where(~negative), "minutes")

    if has.get("resolution"):
        if t["solved"].notna().any() or t.attrs["resolution_basis"] == "solved_at":
            solved = parse_timestamps(t["solved"], tz=timezone)
            report.flag(solved.bad, rows, "Solved at", "not a date and time", t["solved"], "value_emptied")
            frame["resolved_at"] = solved.utc
            n_naive += solved.n_naive
            n_ambiguous += solved.n_ambiguous
        elif t["resolution_min"].notna().any() or hours == "business":
            minutes, bad = parse_numbers(t["resolution_min"])
            report.flag(bad | (minutes < 0), rows, "full resolution minutes", "not a number of minutes >= 0",
                        t["resolution_min"], "value_emptied")
            frame["resolved_at"] = add_duration(created.utc, minutes.where(minutes >= 0), "minutes")
        else:
            hours_value, bad = parse_numbers(t["resolution_hours"])
            report.flag(bad | (hours_value < 0), rows, "Resolution time", "not a number of hours >= 0",
                        t["resolution_hours"], "value_emptied")
            frame["resolved_at"] = add_duration(created.utc, hours_value.where(hours_value >= 0), "hours")

    zone_guess(report, n_naive, timezone, "Created at, Solved at")
    ambiguous_guess(report, n_ambiguous, timezone)
    report.info["resolved_at_basis"] = t.attrs.get("resolution_basis")
    report.info["first_response_basis"] = (f"created_at + first reply minutes ({hours})"
                                           if has.get("first_reply") else None)

    if has.get("channel"):
        frame["channel"] = t["channel"].str.lower()
    if has.get("priority"):
        severity = t["priority"].str.lower()
        unknown = severity.notna() & ~severity.isin(SEVERITIES)
        report.flag(unknown, rows, "Priority", "not low, normal, high or urgent", t["priority"], "value_emptied")
        frame["severity"] = severity.where(~unknown)
        n_null = int(t["priority"].isna().sum())
        if n_null:
            report.notes.append(f"{n_null:,} tickets have no priority: severity left empty")
    if has.get("csat"):
        frame["csat"] = _csat(t["csat"], rows, report)
    if has.get("reopens"):
        reopens, bad = parse_numbers(t["reopens"])
        report.flag(bad | (reopens < 0), rows, "Reopens", "not a whole number >= 0", t["reopens"], "value_emptied")
        frame["reopens"] = whole_numbers(reopens.where(reopens >= 0))
    if has.get("stations"):
        stations, bad = parse_numbers(t["stations"])
        report.flag(bad | (stations < 0), rows, "Assignee stations", "not a whole number >= 0", t["stations"],
                    "value_emptied")
        frame["handoffs"] = whole_numbers(handoffs_from_stations(stations.where(stations >= 0)))
    return frame


def handoffs_from_stations(stations: pd.Series) -> pd.Series:
    """Each assignee after the first is a handoff; a ticket never assigned (0 stations) has none."""
    return (stations - 1).clip(lower=0)


def _csat(raw: pd.Series, rows: pd.Series, report: ConversionReport) -> pd.Series:
    text = raw.str.lower()
    # older exports say "Good with comment" / "Bad with comment"
    score = pd.Series(pd.NA, index=raw.index, dtype="Int64")
    score[text.str.startswith("good").fillna(False)] = 5
    score[text.str.startswith("bad").fillna(False)] = 1
    known = text.isna() | text.isin(NOT_RATED) | score.notna()
    report.flag(~known, rows, "Satisfaction Score", "not Good, Bad, Offered or Not Offered", raw, "value_emptied")
    return score


def _read_organizations(path) -> pd.DataFrame:
    """id, name, external_id and domain names per organization, from the API's JSON or a CSV export."""
    table = read_table(path, "Zendesk organizations", list_keys=("organizations",))
    if table.column("name") is None:
        raise ImportInputError(path, "organizations need a 'name' column or field", column="name")
    domains = table.frame[table.column("domain_names", "domain names", "domains")] \
        if table.column("domain_names", "domain names", "domains") else pd.Series([None] * len(table.frame))

    def as_list(value):
        if isinstance(value, list):
            return [normalise_key(v) for v in value if normalise_key(v)]
        if isinstance(value, str) and value.strip():
            return [normalise_key(v) for v in value.replace(";", ",").replace(" ", ",").split(",") if normalise_key(v)]
        return []

    return pd.DataFrame({
        "org_id": table.values("id").to_numpy(),
        "name_key": table.values("name").map(normalise_key).to_numpy(),
        "name": table.values("name").to_numpy(),
        "external_id": table.values("external_id", "external id").to_numpy(),
        "domains": [as_list(v) for v in domains],
    })


def _account_mapping(account_key: str, account_map, out_dir: Path, report: ConversionReport):
    if account_map is not None:
        report.info["account_map"] = str(account_map)
        return read_account_map(account_map)
    if account_key == "domain":
        # the Stripe import writes this map from its customers' e-mail domains
        default = out_dir / "account_domains.csv"
        if default.exists():
            report.guesses.append(f"no --account-map: used {default}, the domain map the Stripe import wrote")
            report.info["account_map"] = str(default)
            return read_account_map(default)
        raise ImportInputError("--account-map", "--account-key domain needs a map from e-mail domain to account; "
                               "run `retention import stripe` into the same --out folder first (it writes "
                               "account_domains.csv) or pass --account-map source_key,account_id CSV")
    if account_key == "organization":
        report.guesses.append("no --account-map: organization names are used as account ids as they are; they "
                              "must equal account_id in the accounts file")
    return None


def _account_keys(t: pd.DataFrame, account_key: str, orgs: pd.DataFrame | None, mapping, report):
    """The join key per ticket and, where there is none, why."""
    reason = pd.Series(None, index=t.index, dtype=object)
    if t["org_name"].isna().all() and t["org_id"].notna().any():
        # API tickets name the organization by id; the organizations file gives its name
        if orgs is None and account_key != "domain":
            raise ImportInputError("--organizations", "API tickets name organizations by id; pass the "
                                   "organizations file (JSON or CSV) so they can be linked to accounts")
        if orgs is not None:
            by_id = orgs.drop_duplicates("org_id").set_index("org_id")
            t["org_name"] = t["org_id"].map(by_id["name"])
            unknown = t["org_id"].notna() & t["org_name"].isna()
            reason[unknown] = "organization id not in the organizations file"
    no_org = t["org_name"].isna() & reason.isna()
    if account_key == "organization":
        reason[no_org] = "ticket has no organization"
        return t["org_name"], reason
    if account_key == "external_id":
        if orgs is None:
            raise ImportInputError("--organizations", "--account-key external_id needs the organizations file, "
                                   "which holds each organization's external_id")
        by_name = orgs.dropna(subset=["name_key"]).drop_duplicates("name_key").set_index("name_key")
        keys = t["org_name"].map(normalise_key).map(by_name["external_id"])
        reason[no_org] = "ticket has no organization"
        reason[t["org_name"].notna() & keys.isna() & reason.isna()] = "organization has no external_id"
        return keys, reason
    # domain: the requester's e-mail domain (CSV), else the organization's domain names (API)
    keys = t["domain"].copy()
    if keys.isna().all() and orgs is not None:
        by_name = orgs.dropna(subset=["name_key"]).drop_duplicates("name_key").set_index("name_key")
        domain_lists = t["org_name"].map(normalise_key).map(by_name["domains"])

        def pick(domains):
            if not isinstance(domains, list) or not domains:
                return None
            return next((d for d in domains if mapping and d in mapping), domains[0])

        keys = domain_lists.map(pick)
        if keys.notna().any():
            report.notes.append("API tickets carry no requester e-mail: linked by their organization's domain names")
    reason[keys.isna() & reason.isna()] = "ticket has no requester e-mail domain"
    return keys, reason
