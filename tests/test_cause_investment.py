"""The investment case by churn cause: the pure builders on literal results, the data layer's what-if by cause on
the demo whose accounts give churn reasons, and the page driven with AppTest on that demo (and on the small demo,
which gives none).

The demo plants a third of churn as failed payments that no service measure moves, and slower first response as a
driver of voluntary churn only; the checks on it are about what it plants, not snapshots of our own output."""

from __future__ import annotations

import pytest

from conftest import run_app
from dashboard import investment_view
from dashboard.investment_view import ALL_CAUSES_WORDS
from dashboard.labels import cause_label

HALVED_FIRST_RESPONSE = (("first_response_hours", "-50%"),)


def kept(estimate: float, low: float, high: float) -> dict:
    return {"estimate": estimate, "ci_lower": low, "ci_upper": high}


def cause_row(cause: str, accounts: tuple[float, float, float], arr: tuple[float, float, float],
              today: float = 100.0, with_change: float = 90.0) -> dict:
    return {"cause": cause, "expected_churned_today": today, "expected_churned_with_change": with_change,
            "accounts_kept": kept(*accounts), "arr_kept": kept(*arr), "n_events": 100}


def cause_result(rows: list[dict], total: tuple[float, float, float] = (50.0, 38.0, 65.0),
                 total_arr: tuple[float, float, float] = (820_000.0, 575_000.0, 1_070_000.0)) -> dict:
    """A result as cached_cause_whatif returns it, from literal numbers."""
    return {"by_cause": rows, "accounts_kept": kept(*total), "arr_kept": kept(*total_arr),
            "baseline": {"expected_churned_accounts": 536.86, "expected_lost_arr": 7_300_000.0},
            "scenario": {"expected_churned_accounts": 484.55, "expected_lost_arr": 6_500_000.0},
            "horizon_days": 365, "accounts": 1526, "changes": [], "notes": ["the causes compete"]}


# listed most churn first, as the build's models are; the page orders them voluntary, involuntary, unknown
DEMO_LIKE = cause_result([
    cause_row("involuntary", (2.8, -8.0, 13.0), (47_757.0, -145_029.0, 221_043.0), 204.11, 205.73),
    cause_row("voluntary", (48.07, 38.97, 56.85), (748_840.0, 591_735.0, 929_513.0), 324.86, 272.19),
    cause_row("unknown", (1.14, -1.03, 3.0), (20_624.0, -17_313.0, 49_319.0), 7.89, 6.63),
], total=(52.31, 37.64, 65.17), total_arr=(820_805.0, 575_655.0, 1_067_735.0))


def test_cause_sentence_credits_the_cause_whose_interval_excludes_none_and_says_the_rest_are_not_moved():
    sentence = investment_view.cause_sentence(DEMO_LIKE)

    assert sentence == (
        "By cause (95% intervals in brackets): the change keeps about 48 accounts (39 to 57) by lowering voluntary "
        "churn; it does not measurably move involuntary churn (−8 to 13 accounts kept — failed payments, which "
        "support cannot prevent) or churn with no reason given (−1.0 to 3.0 accounts kept), so the case credits "
        "support only with the churn it moves; in all, the causes competing, it keeps about 52 accounts (38 to 65).")


def test_cause_sentence_says_an_involuntary_interval_above_none_is_an_association():
    result = cause_result([cause_row("voluntary", (40.0, 30.0, 50.0), (1.0, 0.5, 1.5)),
                           cause_row("involuntary", (6.0, 1.2, 10.8), (1.0, 0.5, 1.5))], total=(46.0, 34.0, 58.0))

    sentence = investment_view.cause_sentence(result)

    assert "keeps about 40 accounts (30 to 50) by lowering voluntary churn" in sentence
    assert ("the model of involuntary churn links the change with about 6 accounts (1 to 11) kept, an "
            "association in the data rather than an effect (failed payments, which support cannot prevent)") in sentence
    assert "does not measurably move" not in sentence
    assert "credits support only with the churn it moves" not in sentence  # the association is in the total
    assert sentence.endswith("in all, the causes competing, the change keeps about 46 accounts (34 to 58), that "
                             "association included.")


def test_cause_sentence_says_an_involuntary_interval_below_none_is_an_association_too():
    """The default demo with a third of churn planted as failed payments: the model of involuntary churn links
    faster first response with more of it, which nothing planted; the sentence must not say the change raises it."""
    result = cause_result([cause_row("voluntary", (78.2, 63.3, 91.6), (1.0, 0.5, 1.5)),
                           cause_row("involuntary", (-15.7, -31.9, -1.5), (1.0, 0.5, 1.5)),
                           cause_row("unknown", (1.9, -1.3, 5.2), (1.0, 0.5, 1.5))], total=(63.4, 41.2, 84.3))

    assert investment_view.cause_sentence(result) == (
        "By cause (95% intervals in brackets): the change keeps about 78 accounts (63 to 92) by lowering voluntary "
        "churn; it does not measurably move churn with no reason given (−1.3 to 5.2 accounts kept); the model of "
        "involuntary churn links the change with about 16 accounts (2 to 32) more lost, an association in the data "
        "rather than an effect (failed payments, which support cannot prevent); in all, the causes competing, the "
        "change keeps about 63 accounts (41 to 84), that association included.")


def test_cause_sentence_when_no_cause_moves_and_when_the_change_makes_service_worse():
    nothing = cause_result([cause_row("voluntary", (3.0, -4.0, 10.0), (1.0, -1.0, 2.0)),
                            cause_row("involuntary", (0.5, -2.0, 3.0), (1.0, -1.0, 2.0))], total=(3.5, -5.0, 11.0))
    assert investment_view.cause_sentence(nothing) == (
        "By cause (95% intervals in brackets): the change does not measurably move voluntary churn (−4 to 10 "
        "accounts kept) or involuntary churn (−2.0 to 3.0 accounts kept — failed payments, which support cannot "
        "prevent); in all, the causes competing, it keeps about 4 accounts (−5 to 11).")

    worse = cause_result([cause_row("voluntary", (-20.0, -31.0, -9.0), (1.0, -1.0, 2.0)),
                          cause_row("involuntary", (-1.0, -5.0, 3.0), (1.0, -1.0, 2.0))], total=(-21.0, -33.0, -8.0))
    sentence = investment_view.cause_sentence(worse)
    assert "the change loses about 20 accounts (9 to 31) by raising voluntary churn" in sentence
    assert sentence.endswith("in all, the causes competing, it loses about 21 accounts (8 to 33).")


def test_cause_sentence_names_an_analysts_cause_in_words():
    result = cause_result([cause_row("downgrade_to_free", (12.0, 4.0, 20.0), (1.0, 0.5, 1.5))],
                          total=(12.0, 4.0, 20.0))
    assert "by lowering churn counted as downgrade to free" in investment_view.cause_sentence(result)


def test_cause_table_has_a_row_per_cause_and_the_total_in_labels_and_formats():
    table = investment_view.cause_table(DEMO_LIKE)

    assert list(table.columns) == ["Cause", "Expected churned accounts today",
                                   "Expected churned accounts with the change", "Accounts kept (95% interval)",
                                   "ARR kept (95% interval)"]
    assert table["Cause"].tolist() == [cause_label("voluntary"), cause_label("involuntary"), cause_label("unknown"),
                                       ALL_CAUSES_WORDS]
    rows = table.set_index("Cause")
    assert rows.loc["Voluntary (customer chose to leave)"].tolist() == [
        "324.9", "272.2", "48.1 (39.0 to 56.9)", "$748.8K ($591.7K to $929.5K)"]
    assert rows.loc["Involuntary (payment failed)", "ARR kept (95% interval)"] == "$47.8K (-$145.0K to $221.0K)"
    assert rows.loc[ALL_CAUSES_WORDS].tolist() == ["536.9", "484.6", "52.3 (37.6 to 65.2)", "$820.8K ($575.7K to $1.1M)"]


def test_cause_headline_line_sets_the_two_totals_side_by_side_and_says_why_they_differ():
    headline = {"accounts_kept": kept(58.76, 44.83, 71.19)}

    line = investment_view.cause_headline_line(headline, DEMO_LIKE)

    assert line.startswith("The headline above, about 59 accounts (45 to 71) kept, puts all churn in one model")
    assert ("the total by cause, about 52 accounts (38 to 65), moves each cause only as far as that cause's own model "
            "finds") in line


def test_the_summary_downloads_carry_the_split_by_cause():
    headline = {"accounts_kept": kept(58.8, 44.8, 71.2), "arr_kept": kept(933_000.0, 718_000.0, 1_145_000.0),
                "revenue_kept": {**kept(529_000.0, 407_000.0, 649_000.0), "by_month": []},
                "baseline": {"expected_churned_accounts": 533.6}, "scenario": {"expected_churned_accounts": 474.8},
                "horizon_days": 365, "accounts": 1526, "changes": [], "notes": []}
    economics = investment_view.roi(headline, None)

    without = investment_view.summary_markdown(headline, economics, [], "2026-06-30", ())
    markdown = investment_view.summary_markdown(headline, economics, [], "2026-06-30", (), by_cause=DEMO_LIKE)

    assert "By churn cause" not in without
    assert "## By churn cause" in markdown
    assert investment_view.cause_sentence(DEMO_LIKE) in markdown
    assert ("- Voluntary (customer chose to leave): expected churned accounts 324.9 today, 272.2 with the change; "
            "accounts kept 48.1 (39.0 to 56.9); ARR kept $748.8K ($591.7K to $929.5K) (95% intervals)") in markdown
    assert "<h2>By churn cause</h2>" in investment_view.summary_html(markdown)
    csv_rows = {r["quantity"]: r for r in investment_view.summary_table(headline, economics, DEMO_LIKE)}
    assert csv_rows["accounts_kept_through_voluntary_churn"]["estimate"] == 48.07
    assert csv_rows["accounts_kept_all_causes_competing"]["ci_lower"] == 37.64
    assert not [q for q in (r["quantity"] for r in investment_view.summary_table(headline, economics))
                if "through" in q]


# --- the data layer and the page on the demos ------------------------------------------------------

@pytest.fixture(scope="module")
def cause_build_id(cause_demo_con) -> str:
    return cause_demo_con.execute("select build_id from build_info").fetchone()[0]


def test_cached_cause_whatif_keeps_accounts_through_voluntary_churn_only(cause_demo_con, cause_build_id):
    from dashboard import data

    result = data.cached_cause_whatif(cause_demo_con, cause_build_id, HALVED_FIRST_RESPONSE, 365, ())

    assert "each_cause_alone" not in result
    by_cause = {row["cause"]: row for row in result["by_cause"]}
    assert {"voluntary", "involuntary"} <= set(by_cause)
    # the demo plants slower first response as a driver of voluntary churn, and payment failures that nothing moves
    assert by_cause["voluntary"]["accounts_kept"]["ci_lower"] > 0
    involuntary = by_cause["involuntary"]["accounts_kept"]
    assert involuntary["ci_lower"] < 0 < involuntary["ci_upper"]
    # what each cause keeps adds up to the total but for the accounts two causes would both have taken, which are few
    assert sum(r["accounts_kept"]["estimate"] for r in result["by_cause"]) == \
        pytest.approx(result["accounts_kept"]["estimate"], rel=0.02)
    (active,) = cause_demo_con.execute("select count(*) from account_risk").fetchone()
    assert result["accounts"] == active


def test_cached_cause_whatif_is_none_without_cause_models(db):
    from dashboard import data

    (build_id,) = db.execute("select build_id from build_info").fetchone()
    assert data.cached_cause_whatif(db, build_id, HALVED_FIRST_RESPONSE, 365, ()) is None


def open_investment(monkeypatch, db_path):
    monkeypatch.setenv("RETENTION_DB", str(db_path))
    return run_app("investment")


def test_investment_page_splits_the_case_by_churn_cause(cause_demo_database, cause_demo_con, monkeypatch):
    from test_page_labels import found_in, raw_names, table_headers

    at = open_investment(monkeypatch, cause_demo_database[0])

    assert "By churn cause" in [h.value for h in at.subheader]
    sentence = next(m.value for m in at.markdown if m.value.startswith("By cause"))
    assert "by lowering voluntary churn" in sentence
    assert "does not measurably move involuntary churn" in sentence
    assert any(c.value.startswith("The headline above, about ") for c in at.caption)
    table = next(d for d in at.dataframe if "Accounts kept (95% interval)" in d.value.columns)
    assert table.value["Cause"].tolist()[:2] == [cause_label("voluntary"), cause_label("involuntary")]
    assert table.value["Cause"].tolist()[-1] == ALL_CAUSES_WORDS
    names = raw_names(cause_demo_con) | {"churn_cause", "expected_churned_today", "accounts_kept", "arr_kept"}
    texts = [sentence, *table_headers(table), *table.value["Cause"],
             *[c.value for c in at.caption if "cause" in c.value]]
    assert not [(name, text) for text in texts for name in found_in(text, names)]


def test_investment_page_without_churn_reasons_has_no_split_by_cause(small_demo_database, monkeypatch):
    at = open_investment(monkeypatch, small_demo_database[0])

    assert "By churn cause" not in [h.value for h in at.subheader]
    assert not [m.value for m in at.markdown if m.value.startswith("By cause")]
    assert not [d for d in at.dataframe if "Accounts kept (95% interval)" in d.value.columns]
    assert "Accounts kept" in {m.label for m in at.metric}  # the case as before
