"""Importers: each rule of issue 7 against small fixtures written from the tools' documented exports.

Fixtures live in tests/fixtures/imports/; expected values below are worked out by hand from them
(e.g. Zendesk ticket 1002: created 2024-03-08 17:30 Europe/Berlin = 16:30Z, first reply 930 calendar
minutes → 2024-03-09 08:00Z, or 30 business minutes → 17:00Z).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipelines.build import build_database
from pipelines.importers import (
    ImportInputError,
    import_intercom,
    import_mapped,
    import_stripe,
    import_zendesk,
    load_mapping,
)
from pipelines.cli.imports import add_parser as add_import_parser
from pipelines.importers.reading import read_table
from pipelines.importers.units import add_duration, parse_timestamps

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
MAPPINGS = Path(__file__).parent.parent / "pipelines" / "mappings"


def read_out(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def by_id(frame: pd.DataFrame, column: str = "interaction_id") -> dict[str, dict]:
    return {row[column]: row for row in frame.to_dict("records")}


@pytest.fixture
def zendesk_csv(tmp_path):
    def run(**kwargs):
        kwargs.setdefault("timezone", "Europe/Berlin")
        kwargs.setdefault("account_map", FIXTURES / "zendesk_account_map.csv")
        report = import_zendesk(FIXTURES / "zendesk_tickets.csv", tmp_path / "out", **kwargs)
        return report, by_id(read_out(tmp_path / "out" / "interactions.csv"))
    return run


@pytest.fixture
def stripe_csv(tmp_path):
    report = import_stripe(FIXTURES / "stripe_subscriptions.csv", tmp_path / "stripe")
    accounts = by_id(read_out(tmp_path / "stripe" / "accounts.csv"), "account_id")
    history = read_out(tmp_path / "stripe" / "mrr_history.csv")
    return report, accounts, history


# ------------------------------------------------------------------------------------- units and time


def test_units_minutes_seconds_and_hours_add_to_the_start():
    start = pd.Series(pd.to_datetime(["2024-01-01T00:00:00Z"]))
    assert add_duration(start, pd.Series([90.0]), "minutes")[0] == pd.Timestamp("2024-01-01T01:30:00Z")
    assert add_duration(start, pd.Series([5400.0]), "seconds")[0] == pd.Timestamp("2024-01-01T01:30:00Z")
    assert add_duration(start, pd.Series([1.5]), "hours")[0] == pd.Timestamp("2024-01-01T01:30:00Z")


def test_zendesk_rounded_resolution_hours_used_only_without_solved_at(tmp_path):
    """An export without 'Solved at' falls back to 'Resolution time' (whole hours) and says it guessed."""
    source = read_out(FIXTURES / "zendesk_tickets.csv").drop(columns=["Solved at"])
    path = tmp_path / "no_solved.csv"
    source.to_csv(path, index=False)
    report = import_zendesk(path, tmp_path / "out", timezone="Europe/Berlin",
                            account_map=FIXTURES / "zendesk_account_map.csv")
    rows = by_id(read_out(tmp_path / "out" / "interactions.csv"))
    # 1002: created 16:30Z + 65 h (Zendesk's rounding of 64.5 h) = 2024-03-11 09:30Z
    assert rows["1002"]["resolved_at"] == "2024-03-11T09:30:00Z"
    assert any("rounds to the hour" in g for g in report.guesses)


def test_zendesk_local_times_become_utc(zendesk_csv):
    report, rows = zendesk_csv()
    assert rows["1001"]["created_at"] == "2024-03-04T08:15:00Z"  # CET, +01:00
    assert rows["1008"]["created_at"] == "2024-05-14T21:30:00Z"  # CEST, +02:00
    # 02:30 on 2023-10-29 happened twice in Berlin; the first (summer-time) one is taken and flagged
    assert rows["1004"]["created_at"] == "2023-10-29T00:30:00Z"
    assert rows["1004"]["resolved_at"] == "2023-10-29T05:00:00Z"
    assert any("repeated hour" in g for g in report.guesses)
    assert report.info["timezone"] == "Europe/Berlin"


def test_zendesk_without_timezone_assumes_utc_and_says_so(zendesk_csv):
    report, rows = zendesk_csv(timezone=None)
    assert rows["1001"]["created_at"] == "2024-03-04T09:15:00Z"
    assert any("time zone assumed UTC" in g for g in report.guesses)
    assert report.info["timezone"] == "UTC (assumed)"


def test_epoch_seconds_become_utc(tmp_path):
    import_intercom(FIXTURES / "intercom_conversations.json", tmp_path,
                    account_map=FIXTURES / "intercom_account_map.csv")
    rows = by_id(read_out(tmp_path / "interactions.csv"))
    assert rows["c-101"]["created_at"] == "2024-03-04T08:15:00Z"
    assert rows["c-101"]["first_response_at"] == "2024-03-04T08:20:30Z"
    parsed = parse_timestamps(pd.Series(["1709540100", "x"]), fmt="epoch_s")
    assert parsed.utc[0] == pd.Timestamp("2024-03-04T08:15:00Z") and bool(parsed.bad[1])


def test_offsets_are_honoured_whatever_the_zone():
    parsed = parse_timestamps(pd.Series(["2024-03-04T09:15:00.000+0000", "2024-03-04T10:15:00+01:00"]),
                              tz="America/New_York")
    assert list(parsed.utc) == [pd.Timestamp("2024-03-04T09:15:00Z")] * 2
    assert parsed.n_naive == 0


def test_stripe_csv_amounts_are_major_units_and_jpy_is_whole_yen(stripe_csv):
    _, accounts, _ = stripe_csv
    assert float(accounts["cus_hooli"]["mrr"]) == 12000.0
    assert accounts["cus_hooli"]["currency"] == "jpy"
    assert float(accounts["cus_umbrella"]["mrr"]) == 49.0


def test_stripe_api_cents_divided_by_100_except_zero_decimal_currencies(tmp_path):
    import_stripe(FIXTURES / "stripe_subscriptions_api.json", tmp_path)
    accounts = by_id(read_out(tmp_path / "accounts.csv"), "account_id")
    assert float(accounts["cus_usd"]["mrr"]) == 98.0  # 4900 cents × 2 seats, monthly
    assert float(accounts["cus_jpy"]["mrr"]) == 10000.0  # ¥120000 a year, not ¥1200
    assert float(accounts["cus_legacy"]["mrr"]) == 130.0  # legacy plan: 1000 cents a week × 3 × 52 / 12


def test_mapped_cents_unit_divides_by_100(tmp_path):
    (tmp_path / "acc.csv").write_text("Customer,Since,Until,MRR (cents)\nA1,2024-01-05,,4900\nA2,2024-02-01,2024-05-01,x\n")
    (tmp_path / "map.toml").write_text(
        'kind = "accounts"\n[columns]\naccount_id = "Customer"\nsignup_date = "Since"\nchurn_date = "Until"\n'
        'mrr = { from = "MRR (cents)", unit = "cents" }\n')
    report = import_mapped(tmp_path / "acc.csv", tmp_path / "map.toml", "accounts", tmp_path / "out")
    rows = by_id(read_out(tmp_path / "out" / "accounts.csv"), "account_id")
    assert float(rows["A1"]["mrr"]) == 49.0
    assert "A2" not in rows and report.rows_rejected == 1


# ------------------------------------------------------------------------------------- hours basis


def test_zendesk_calendar_hours_first_response_and_solved_at(zendesk_csv):
    report, rows = zendesk_csv(hours="calendar")
    # first_response_at = created_at + first reply (930 calendar minutes); resolved_at = Solved at
    assert rows["1002"]["first_response_at"] == "2024-03-09T08:00:00Z"
    assert rows["1002"]["resolved_at"] == "2024-03-11T09:00:00Z"
    assert report.info["hours_basis"] == "calendar" and report.info["resolved_at_basis"] == "solved_at"


def test_zendesk_business_hours_take_both_durations_from_business_minutes(zendesk_csv):
    report, rows = zendesk_csv(hours="business")
    assert rows["1002"]["first_response_at"] == "2024-03-08T17:00:00Z"  # + 30 business minutes
    assert rows["1002"]["resolved_at"] == "2024-03-08T20:00:00Z"  # + 210 business minutes, not Solved at
    assert rows["1004"]["first_response_at"] == rows["1004"]["created_at"]  # 0 business minutes on a Sunday


def test_zendesk_business_hours_never_fall_back_to_calendar(tmp_path):
    """Ticket 2004's metrics have calendar minutes and no business ones: its times stay empty."""
    import_zendesk(FIXTURES / "zendesk_tickets_api.json", tmp_path, hours="business",
                   ticket_metrics=FIXTURES / "zendesk_ticket_metrics.ndjson",
                   organizations=FIXTURES / "zendesk_organizations.json", account_key="organization")
    rows = by_id(read_out(tmp_path / "interactions.csv"))
    assert "2004" not in rows  # no organization: rejected, see the join tests
    assert rows["2002"]["first_response_at"] == "2024-03-08T17:00:00Z"
    frame = import_zendesk(FIXTURES / "zendesk_tickets_api.json", tmp_path / "ext", hours="business",
                           ticket_metrics=FIXTURES / "zendesk_ticket_metrics.ndjson",
                           organizations=FIXTURES / "zendesk_organizations.json", account_key="domain",
                           account_map=_write_map(tmp_path / "d.csv", [("acme.io", "cus_acme"), ("globex.com", "cus_globex")]))
    assert frame.match["unmatched"] == 2


def _write_map(path: Path, pairs) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source_key", "account_id"])
        writer.writerows(pairs)
    return path


def test_zendesk_business_minutes_missing_value_stays_empty(tmp_path):
    source = read_out(FIXTURES / "zendesk_tickets.csv")
    source.loc[source["Id"] == "1001", "First reply time in minutes within business hours"] = ""
    path = tmp_path / "t.csv"
    source.to_csv(path, index=False)
    import_zendesk(path, tmp_path / "out", timezone="Europe/Berlin", hours="business",
                   account_map=FIXTURES / "zendesk_account_map.csv")
    rows = by_id(read_out(tmp_path / "out" / "interactions.csv"))
    assert rows["1001"]["first_response_at"] == ""  # never the 45 calendar minutes


def test_business_hours_without_business_columns_is_refused(tmp_path):
    source = read_out(FIXTURES / "zendesk_tickets.csv")
    path = tmp_path / "t.csv"
    source[[c for c in source.columns if "business" not in c]].to_csv(path, index=False)
    with pytest.raises(ImportInputError, match="business"):
        import_zendesk(path, tmp_path / "out", hours="business", account_map=FIXTURES / "zendesk_account_map.csv")


def test_hours_basis_and_csat_scale_recorded_in_import_info(zendesk_csv, tmp_path):
    zendesk_csv(hours="business")
    info = json.loads((tmp_path / "out" / "import_info.json").read_text())
    assert info["interactions"]["hours_basis"] == "business"
    assert "good -> 5" in info["interactions"]["csat_scale"]
    assert info["interactions"]["timezone"] == "Europe/Berlin"
    assert info["interactions"]["rows_read"] == 10 and info["interactions"]["rows_rejected"] == 4


# ------------------------------------------------------------------------------------- csat, handoffs


def test_zendesk_csat_good_5_bad_1_not_rated_empty(zendesk_csv):
    _, rows = zendesk_csv()
    assert rows["1001"]["csat"] == "5" and rows["1002"]["csat"] == "1"
    assert rows["1003"]["csat"] == ""  # Offered
    assert rows["1004"]["csat"] == ""  # Not Offered: empty, never 0


def test_zendesk_api_csat_unoffered_is_empty(tmp_path):
    import_zendesk(FIXTURES / "zendesk_tickets_api.json", tmp_path, organizations=FIXTURES / "zendesk_organizations.json",
                   ticket_metrics=FIXTURES / "zendesk_ticket_metrics.ndjson", account_key="organization")
    rows = by_id(read_out(tmp_path / "interactions.csv"))
    assert rows["2001"]["csat"] == "5" and rows["2002"]["csat"] == "1" and rows["2003"]["csat"] == ""


def test_intercom_csat_as_is_and_scale_recorded(tmp_path):
    import_intercom(FIXTURES / "intercom_conversations.json", tmp_path, account_map=FIXTURES / "intercom_account_map.csv")
    rows = by_id(read_out(tmp_path / "interactions.csv"))
    assert rows["c-101"]["csat"] == "4" and rows["c-102"]["csat"] == "2"
    info = json.loads((tmp_path / "import_info.json").read_text())
    assert info["interactions"]["csat_scale"] == "intercom conversation rating 1-5, as is"
    assert info["interactions"]["hours_basis"] == "calendar"


def test_handoffs_are_assignee_stations_minus_one_never_negative(zendesk_csv, tmp_path):
    _, rows = zendesk_csv()
    assert rows["1002"]["handoffs"] == "2"  # 3 stations
    assert rows["1001"]["handoffs"] == "0"  # 1 station
    assert rows["1003"]["handoffs"] == "0"  # never assigned: 0 stations, not -1
    import_intercom(FIXTURES / "intercom_conversations.json", tmp_path / "ic",
                    account_map=FIXTURES / "intercom_account_map.csv")
    assert by_id(read_out(tmp_path / "ic" / "interactions.csv"))["c-102"]["handoffs"] == "2"  # 3 assignments


def test_first_response_is_created_plus_first_reply_and_resolved_is_solved_at(tmp_path):
    import_zendesk(FIXTURES / "zendesk_tickets_api.json", tmp_path, organizations=FIXTURES / "zendesk_organizations.json",
                   ticket_metrics=FIXTURES / "zendesk_ticket_metrics.ndjson", account_key="external_id")
    rows = by_id(read_out(tmp_path / "interactions.csv"))
    assert rows["2001"]["first_response_at"] == "2024-03-04T09:00:00Z"  # 08:15 + 45 min
    assert rows["2001"]["resolved_at"] == "2024-03-04T10:15:00Z"  # solved_at
    assert rows["2003"]["resolved_at"] == ""  # open


def test_zendesk_null_priority_is_empty_severity(zendesk_csv):
    report, rows = zendesk_csv()
    assert rows["1003"]["severity"] == "" and rows["1004"]["severity"] == "urgent"
    assert any("no priority" in n for n in report.notes)


# ------------------------------------------------------------------------------------- stripe accounts


def test_stripe_one_account_per_customer_and_plan_change_is_not_churn(stripe_csv):
    _, accounts, history = stripe_csv
    assert list(accounts).count("cus_acme") == 1
    acme = accounts["cus_acme"]
    assert acme["signup_date"] == "2023-01-15" and acme["churn_date"] == ""
    months = history[history["account_id"] == "cus_acme"].set_index("month")["mrr"].astype(float)
    # Starter $49 until 15 Sep; Growth yearly $1,188 × 2 seats / 12 = $198 from October; never both
    assert months["2023-09"] == 49.0 and months["2023-10"] == 198.0
    assert float(acme["mrr"]) == 198.0


def test_stripe_churn_is_ended_at_not_canceled_at(stripe_csv):
    _, accounts, _ = stripe_csv
    # asked to cancel 2024-01-20 (canceled_at); left at period end 2024-02-15 (ended_at)
    assert accounts["cus_initech"]["churn_date"] == "2024-02-15"


def test_stripe_cancel_at_period_end_is_scheduled_not_churn(stripe_csv):
    report, accounts, _ = stripe_csv
    assert accounts["cus_globex"]["churn_date"] == ""
    assert any("scheduled" in n for n in report.notes)


def test_stripe_past_due_is_still_a_customer(stripe_csv):
    _, accounts, _ = stripe_csv
    assert accounts["cus_umbrella"]["churn_date"] == ""


def test_stripe_trials_and_incomplete_expired(stripe_csv):
    report, accounts, _ = stripe_csv
    # a converted trial starts when the trial ended; an unconverted trial, a trial canceled before paying,
    # and incomplete_expired give no account, and each such row is listed as rejected
    assert accounts["cus_initech"]["signup_date"] == "2023-05-15"
    assert {"cus_trialco", "cus_abandon", "cus_stark"}.isdisjoint(accounts)
    rejected = set(report.problems["raw_value"])
    assert {"cus_trialco", "cus_abandon", "cus_stark"} <= rejected


def test_stripe_api_paused_never_counts(tmp_path):
    report = import_stripe(FIXTURES / "stripe_subscriptions_api.json", tmp_path)
    accounts = by_id(read_out(tmp_path / "accounts.csv"), "account_id")
    assert "cus_paused" not in accounts and "cus_never" not in accounts
    assert accounts["cus_legacy"]["signup_date"] == "2023-06-15"  # trial end
    assert accounts["cus_legacy"]["churn_date"] == "2024-02-01"  # ended_at, not canceled_at 2024-01-05
    assert report.rows_rejected == 2


def test_stripe_mrr_normalised_to_a_month(stripe_csv):
    _, accounts, _ = stripe_csv
    assert float(accounts["cus_wonka"]["mrr"]) == round(25 * 52 / 12, 2)  # weekly
    assert float(accounts["cus_globex"]["mrr"]) == 297.0  # 3 × $99 monthly


def test_stripe_mrr_history_runs_signup_to_churn(stripe_csv):
    _, _, history = stripe_csv
    wonka = history[history["account_id"] == "cus_wonka"]["month"]
    assert wonka.iloc[0] == "2023-02" and wonka.iloc[-1] == "2023-12"
    globex = history[history["account_id"] == "cus_globex"]["month"]
    assert globex.iloc[-1] == "2024-06"  # as of the latest date in the export


def test_stripe_domain_map_leaves_out_free_mail(stripe_csv, tmp_path):
    domains = read_out(tmp_path / "stripe" / "account_domains.csv")
    assert dict(zip(domains["source_key"], domains["account_id"]))["acme.io"] == "cus_acme"
    assert "gmail.com" not in set(domains["source_key"])


# ------------------------------------------------------------------------------------- join keys


def test_zendesk_unmatched_tickets_reported_with_count_and_share(zendesk_csv, tmp_path):
    report, rows = zendesk_csv()
    # organization key through the map: 1005 has no organization, 1006 is Umbrella Corp (not in the map)
    assert "1005" not in rows and "1006" not in rows
    assert report.match["unmatched"] == 2 and report.match["total"] == 10
    assert report.match["unmatched_share"] == pytest.approx(0.2)
    assert "2 (20.0%) matched no account" in report.to_text()
    rejects = read_out(tmp_path / "out" / "interactions_rejects.csv")
    assert set(rejects.loc[rejects["reason"].str.contains("organization"), "row"]) == {"5", "6"}


def test_zendesk_domain_join_against_stripe_customer_emails(tmp_path):
    import_stripe(FIXTURES / "stripe_subscriptions.csv", tmp_path)
    report = import_zendesk(FIXTURES / "zendesk_tickets.csv", tmp_path, timezone="Europe/Berlin",
                            account_key="domain")
    rows = by_id(read_out(tmp_path / "interactions.csv"))
    assert rows["1005"]["account_id"] == "cus_initech"  # no organization, but initech.com
    assert "1006" not in rows  # gmail.com names no customer
    assert report.match["unmatched"] == 1
    assert any("every converted row names an account" in n for n in report.notes)


def test_zendesk_external_id_through_organizations(tmp_path):
    report = import_zendesk(FIXTURES / "zendesk_tickets_api.json", tmp_path,
                            organizations=FIXTURES / "zendesk_organizations.json", account_key="external_id")
    rows = by_id(read_out(tmp_path / "interactions.csv"))
    assert rows["2001"]["account_id"] == "cus_acme" and rows["2003"]["account_id"] == "cus_globex"
    assert report.match["reasons"] == {"ticket has no organization": 1, "organization has no external_id": 1}


def test_zendesk_external_id_needs_organizations(tmp_path):
    with pytest.raises(ImportInputError, match="organizations"):
        import_zendesk(FIXTURES / "zendesk_tickets.csv", tmp_path, account_key="external_id")


# ------------------------------------------------------------------------------------- formats, report


@pytest.mark.parametrize("text, fmt", [
    ('[{"id": 1}, {"id": 2}]', "json"),
    ('{"data": [{"id": 1}, {"id": 2}]}', "json"),
    ('{"id": 1}\n{"id": 2}\n', "ndjson"),
    ("id\n1\n2\n", "csv"),
    ("id;name\n1;a\n2;b\n", "csv"),
])
def test_read_table_detects_the_format(tmp_path, text, fmt):
    path = tmp_path / "f"
    path.write_text(text)
    table = read_table(path, "test")
    assert table.file_format == fmt and list(table.values("id")) == ["1", "2"]


def test_ndjson_bad_line_is_a_rejected_row_not_a_lost_one(tmp_path):
    path = tmp_path / "c.ndjson"
    lines = [json.dumps(c) for c in json.loads((FIXTURES / "intercom_conversations.json").read_text())["conversations"]]
    path.write_text("\n".join(lines[:2] + ["{not json"]) + "\n")
    report = import_intercom(path, tmp_path / "out", account_map=FIXTURES / "intercom_account_map.csv")
    assert report.rows_read == 3 and report.rows_rejected == 1
    assert "not valid JSON" in report.problems.iloc[0]["reason"]


def test_every_row_read_is_converted_or_rejected(zendesk_csv, tmp_path):
    report, rows = zendesk_csv()
    assert report.rows_read == len(rows) + report.rows_rejected
    rejects = read_out(tmp_path / "out" / "interactions_rejects.csv")
    assert {"Created at", "ID"} <= set(rejects["column"])
    assert rejects.loc[rejects["column"] == "Created at", "raw_value"].iloc[0] == "30/02/2024 14:00"


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ImportInputError, match="not found") as error:
        import_stripe(tmp_path / "nope.csv", tmp_path)
    assert isinstance(error.value, ValueError)


def test_stripe_csv_without_needed_columns_lists_what_it_found(tmp_path):
    (tmp_path / "s.csv").write_text("id,Status\nsub_1,active\n")
    with pytest.raises(ImportInputError, match="columns found"):
        import_stripe(tmp_path / "s.csv", tmp_path / "out")


# ------------------------------------------------------------------------------------- mapped


def test_shipped_freshdesk_mapping(tmp_path):
    mapping = tmp_path / "freshdesk_tickets.toml"
    shutil.copy(MAPPINGS / "freshdesk_tickets.toml", mapping)
    shutil.copy(FIXTURES / "freshdesk_companies.csv", tmp_path / "freshdesk_companies.csv")
    mapping.write_text(mapping.read_text().replace('# account_map = "freshdesk', 'account_map = "freshdesk')
                       .replace('# timezone = "Europe/Berlin"', 'timezone = "Europe/Berlin"'))
    report = import_mapped(FIXTURES / "freshdesk_tickets.csv", mapping, "interactions", tmp_path / "out")
    rows = by_id(read_out(tmp_path / "out" / "interactions.csv"))
    assert rows["5001"] == {"interaction_id": "5001", "account_id": "cus_acme", "created_at": "2024-03-04T09:15:00Z",
                            "first_response_at": "2024-03-04T09:45:00Z", "resolved_at": "2024-03-04T11:15:00Z",
                            "channel": "email", "severity": "normal", "csat": "4"}
    assert rows["5002"]["severity"] == "urgent" and rows["5002"]["csat"] == "2"
    assert report.rows_rejected == 2 and report.values_emptied == 2  # no company; a bad date; priority/survey unknown


def test_shipped_salesforce_mapping(tmp_path):
    report = import_mapped(FIXTURES / "salesforce_cases.csv", MAPPINGS / "salesforce_cases.toml", "interactions", tmp_path)
    rows = by_id(read_out(tmp_path / "interactions.csv"))
    assert rows["5003x000001AAA1"]["created_at"] == "2024-03-04T09:15:00Z"
    assert rows["5003x000001AAA2"]["escalated"] == "true"
    assert report.match["unmatched"] == 1 and not report.guesses  # offsets present: no zone guessed


def test_mapping_errors_name_the_key(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[columns]\ninteraction_id = "ID"\naccount_id = "Org"\ncreated_at = "Created"\nsentiment = "S"\n')
    with pytest.raises(ImportInputError, match="columns.sentiment"):
        load_mapping(path, "interactions")
    path.write_text('[columns]\ninteraction_id = "ID"\naccount_id = "Org"\n')
    with pytest.raises(ImportInputError, match="created_at"):
        load_mapping(path, "interactions")


# ------------------------------------------------------------------------------------- cli and end to end


def _parser():
    parser = argparse.ArgumentParser(prog="retention")
    add_import_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_prints_the_conversion_report(tmp_path, capsys):
    args = _parser().parse_args(["import", "stripe", str(FIXTURES / "stripe_subscriptions.csv"), "--out", str(tmp_path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "rows read              11" in out and "rows rejected           4" in out
    assert "customer never paid" in out


def test_zendesk_csv_and_stripe_csv_import_then_build(tmp_path):
    """The three documented commands: import stripe, import zendesk, build."""
    parser = _parser()
    out = tmp_path / "mine"
    for argv in (["import", "stripe", str(FIXTURES / "stripe_subscriptions.csv"), "--out", str(out)],
                 ["import", "zendesk", str(FIXTURES / "zendesk_tickets.csv"), "--timezone", "Europe/Berlin",
                  "--account-key", "domain", "--account-map", str(out / "account_domains.csv"), "--out", str(out)]):
        args = parser.parse_args(argv)
        assert args.func(args) == 0
    result = build_database(accounts=out / "accounts.csv", interactions=out / "interactions.csv",
                            mrr_history=out / "mrr_history.csv", db_path=tmp_path / "r.duckdb")
    report = {row["source"]: row for row in result.load_report}
    # the fixtures' deliberately bad rows (a blank customer; a bad date, a duplicate, a gmail requester)
    # were rejected at import, so the build loads everything it is given
    assert (report["accounts"]["rows_read"], report["accounts"]["rows_loaded"]) == (6, 6)
    assert (report["interactions"]["rows_read"], report["interactions"]["rows_loaded"]) == (7, 7)
    assert report["mrr_history"]["rows_loaded"] == report["mrr_history"]["rows_read"] == 69
    assert result.reject_summary == []


def test_mapped_seconds_epoch_and_stations_offset(tmp_path):
    """A warehouse extract: epoch seconds, first reply in seconds, assignee stations → handoffs."""
    (tmp_path / "x.csv").write_text("id,org,opened,reply_s,stations\n"
                                    "t1,A1,1709540100,5400,3\nt2,A1,1709540100,,0\n")
    (tmp_path / "m.toml").write_text(
        '[columns]\ninteraction_id = "id"\naccount_id = "org"\ncreated_at = { from = "opened", format = "epoch_s" }\n'
        'first_response_at = { from = "reply_s", unit = "seconds" }\nhandoffs = { from = "stations", offset = -1 }\n')
    import_mapped(tmp_path / "x.csv", tmp_path / "m.toml", "interactions", tmp_path / "out")
    rows = by_id(read_out(tmp_path / "out" / "interactions.csv"))
    assert rows["t1"]["first_response_at"] == "2024-03-04T09:45:00Z"  # 08:15 + 90 min
    assert (rows["t1"]["handoffs"], rows["t2"]["handoffs"]) == ("2", "0")


def test_build_info_records_the_import_choices(tmp_path):
    """The hours basis and CSAT scale chosen at import travel into build_info (import_info_json)."""
    import json

    import duckdb

    from pipelines.build import build_database
    from pipelines.cli import main

    fixtures = Path(__file__).parent / "fixtures" / "imports"
    out = tmp_path / "import"
    assert main(["import", "stripe", str(fixtures / "stripe_subscriptions.csv"), "--out", str(out)]) == 0
    assert main(["import", "zendesk", str(fixtures / "zendesk_tickets.csv"), "--timezone", "Europe/Berlin",
                 "--hours", "business", "--account-key", "domain", "--out", str(out)]) == 0
    db = tmp_path / "r.duckdb"
    build_database(out / "accounts.csv", out / "interactions.csv", db, mrr_history=out / "mrr_history.csv")
    with duckdb.connect(str(db), read_only=True) as con:
        info = json.loads(con.execute("select import_info_json from build_info").fetchone()[0])
    recorded = json.dumps(info)
    assert "business" in recorded and "Europe/Berlin" in recorded


def test_stripe_blank_or_garbled_interval_and_interval_count_are_reported_never_turned_into_mrr(tmp_path):
    """An Interval Count of "three" is not a number: that subscription adds no MRR and says so (it had given 3× the
    MRR); a blank count is Stripe's default of 1, said; a blank Interval adds no MRR, said (it had given 0 with
    nothing in the rejects). A good count still divides: $99 every 3 months is $33 a month."""
    source = read_out(FIXTURES / "stripe_subscriptions.csv")
    counts = {"sub_1G1": "three", "sub_1H1": "", "sub_1U1": "3"}
    source["Interval Count"] = source["id"].map(counts).fillna("1")
    source.loc[source["id"] == "sub_1U1", "Amount"] = "99.00"
    source.loc[source["id"] == "sub_1S1", "Interval"] = ""
    path = tmp_path / "subscriptions.csv"
    source.to_csv(path, index=False)
    report = import_stripe(path, tmp_path / "out")
    accounts = by_id(read_out(tmp_path / "out" / "accounts.csv"), "account_id")
    problems = report.problems.assign(row=report.problems["row"].astype(int))
    row_of = {sub: i + 1 for i, sub in enumerate(source["id"])}  # the importers number data rows from 1

    def reasons(sub: str, column: str) -> list[str]:
        return problems.loc[(problems["row"] == row_of[sub]) & (problems["column"] == column), "reason"].tolist()

    assert float(accounts["cus_globex"]["mrr"]) == 0.0
    assert reasons("sub_1G1", "Interval Count") == ["not a whole number of intervals >= 1: this subscription adds "
                                                    "no MRR"]
    assert float(accounts["cus_hooli"]["mrr"]) == 12000.0
    assert reasons("sub_1H1", "Interval Count") == ["empty: taken as 1 (Stripe's default)"]
    assert float(accounts["cus_umbrella"]["mrr"]) == 33.0
    assert reasons("sub_1U1", "Interval Count") == []
    assert reasons("sub_1S1", "Interval") == ["empty: this subscription adds no MRR"]


def test_stripe_fills_the_churn_reason_of_the_subscription_whose_end_was_the_churn(tmp_path):
    """cancellation_details.reason (the CSV's Cancellation Reason) of the subscription that ended last: a customer
    whose card failed is told from one who asked to cancel; a customer still paying has no reason, though an
    earlier subscription of theirs was canceled; the API's cancellation_details too."""
    source = read_out(FIXTURES / "stripe_subscriptions.csv")
    reasons = {"sub_1I1": "payment_failed", "sub_1W1": "cancellation_requested", "sub_1A1": "cancellation_requested"}
    source["Cancellation Reason"] = source["id"].map(reasons).fillna("")
    path = tmp_path / "subscriptions.csv"
    source.to_csv(path, index=False)
    import_stripe(path, tmp_path / "csv")
    accounts = by_id(read_out(tmp_path / "csv" / "accounts.csv"), "account_id")
    assert accounts["cus_initech"]["churn_reason"] == "payment_failed"
    assert accounts["cus_wonka"]["churn_reason"] == "cancellation_requested"
    assert accounts["cus_acme"]["churn_date"] == "" and accounts["cus_acme"]["churn_reason"] == ""

    document = json.loads((FIXTURES / "stripe_subscriptions_api.json").read_text(encoding="utf-8"))
    records = document["data"] if isinstance(document, dict) else document
    for record in records:
        if record["id"] == "sub_L":
            record["cancellation_details"] = {"reason": "payment_disputed", "feedback": None}
    api = tmp_path / "api.json"
    api.write_text(json.dumps(document), encoding="utf-8")
    import_stripe(api, tmp_path / "api")
    accounts = by_id(read_out(tmp_path / "api" / "accounts.csv"), "account_id")
    assert accounts["cus_legacy"]["churn_reason"] == "payment_disputed" and accounts["cus_usd"]["churn_reason"] == ""
