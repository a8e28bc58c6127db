"""The forecast the build stores and the overview shows: the same numbers as `retention forecast`, a filtered
selection forecast on its own accounts, and the chart and sentence that carry them."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from dashboard import charts, data, findings
from pipelines.models.forecast import RetentionForecast, read_forecast, read_inputs
from pipelines.models.store import read_model_info


def test_the_build_stores_the_forecast_the_command_makes(db, as_of):
    """The overview reads the build's forecast of every account: exactly what `retention forecast` prints for the
    build (same seed, same draws), starting from the accounts active at the as-of date."""
    stored = read_forecast(db)
    info = read_model_info(db, "forecast")
    inputs = read_inputs(db)
    fresh = RetentionForecast().fit(inputs.accounts, inputs.as_of, inputs.mrr)

    pd.testing.assert_frame_equal(stored.reset_index(drop=True), fresh.frame(), check_dtype=False)
    assert info["as_of"] == str(as_of) and info["draws"] == 2000 and info["months"] == 12
    active = db.execute("select count(*) from account_survival where signup_date < ? and "
                        "(churn_date is null or churn_date > ?)", [as_of, as_of]).fetchone()[0]
    assert info["active_accounts_at_as_of"] == active
    first = stored[(stored.month_number == 1)].set_index("measure")
    # one month on, today's accounts are fewer, never more, and all accounts include the new ones
    assert first.loc["existing_base_accounts", "upper_95"] <= active
    assert first.loc["active_accounts", "estimate"] == pytest.approx(
        first.loc["existing_base_accounts", "estimate"] + first.loc["new_business_accounts", "estimate"])


def test_a_filtered_forecast_follows_the_matching_accounts_alone(db, as_of):
    """With a filter (or a CSM's scope) the forecast is made on the matching accounts, not scaled from the whole."""
    everyone, _ = data.forecast(db, ())
    starters, info = data.forecast(db, ("plan=Starter",))
    active = db.execute("select count(*) from account_survival where plan = 'Starter' and signup_date < ? and "
                        "(churn_date is null or churn_date > ?)", [as_of, as_of]).fetchone()[0]
    assert info["active_accounts_at_as_of"] == active

    def last(frame: pd.DataFrame) -> float:
        return frame[(frame.month_number == 12) & (frame.measure == "active_accounts")].estimate.item()

    assert last(starters) < last(everyone)


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([{"month_number": n, "month": f"2027-{n:02d}", "month_end": date(2027, n, 28),
                          "measure": measure, "estimate": e, "lower_80": e * 0.95, "upper_80": e * 1.05,
                          "lower_95": e * 0.9, "upper_95": e * 1.1} for n, measure, e in rows])


def test_the_forecast_sentence_says_where_it_ends_with_its_intervals():
    forecast = frame([(1, "active_accounts", 3000.0), (2, "active_accounts", 3050.0), (2, "mrr", 4.2e6),
                      (2, "existing_base_accounts", 2600.0)])
    assert findings.forecast_sentence(forecast) == (
        "By 28 Feb 2027: 3,050 active accounts (2,898–3,202) and $4.2M MRR ($4.0M–$4.4M). About 2,600 of those "
        "accounts (2,470–2,730) are customers today; the rest are new business.")
    assert findings.forecast_sentence(forecast[forecast.measure != "mrr"]).startswith(
        "By 28 Feb 2027: 3,050 active accounts (2,898–3,202). About")
    assert findings.forecast_sentence(forecast.iloc[:0]) is None


def test_the_fan_chart_starts_at_today_and_tells_the_parts_apart():
    forecast = frame([(1, "mrr", 4.1e6), (2, "mrr", 4.2e6), (1, "existing_base_mrr", 3.9e6),
                      (2, "existing_base_mrr", 3.7e6)])
    history = pd.DataFrame({"date": pd.to_datetime(["2026-11-01", "2026-12-01"]), "value": [3.9e6, 4.0e6]})
    fig = charts.forecast_fan(history, forecast, "mrr", "existing_base_mrr", (date(2026, 12, 31), 4.0e6), True)
    by_name = {trace.name: trace for trace in fig.data}
    assert set(by_name) >= {"80% interval", "95% interval", "What happened", "Forecast, all accounts",
                            "of which today's accounts (the gap above is new business)"}
    total = by_name["Forecast, all accounts"]
    assert list(total.y) == [4.0e6, 4.1e6, 4.2e6] and str(total.x[0])[:10] == "2026-12-31"
    assert list(by_name["of which today's accounts (the gap above is new business)"].y) == [4.0e6, 3.9e6, 3.7e6]
    assert by_name["80% interval"].fill == "tonexty"
    assert fig.layout.yaxis.tickprefix == "$"
    table = findings.forecast_table(forecast)
    assert list(table.columns) == ["Month ending", "MRR", "MRR of today's customers"]
    assert table.iloc[1].MRR == "$4.2M ($4.0M–$4.4M)"


def test_a_whatif_becomes_the_share_of_churn_it_keeps():
    from pipelines.models.forecast import ForecastInputError, whatif_kept_shares

    assert whatif_kept_shares(np.array([0.0, 100.0, -40.0]), 400.0).tolist() == [0.0, 0.25, -0.1]
    with pytest.raises(ForecastInputError, match="no churn"):
        whatif_kept_shares(np.array([1.0]), 0.0)


def test_the_forecast_with_a_change_keeps_what_the_whatif_keeps():
    """A what-if that keeps a tenth of the year's expected churn (planted hazards differ fivefold between plans, so
    one ratio for all must be found, not read off the average), put on the forecast: the existing base keeps a tenth
    of its year's churn, with an interval from the what-if's uncertainty alone, and new business keeps some more."""
    from test_forecast import AS_OF, monthly_mrr, planted_accounts
    from pipelines.models.forecast import change_difference

    accounts = planted_accounts(21, n=3000, monthly_hazard={"Starter": 0.08, "Pro": 0.016})
    mrr = monthly_mrr(accounts, 21)
    without = RetentionForecast(draws=500).fit(accounts, AS_OF, mrr)
    churned = without.n_active_ - without.base.expected_draws_[:, 11].mean()
    share = np.random.default_rng(0).normal(0.1, 0.01, 1000)
    with_change = RetentionForecast(draws=500, kept_share=share).fit(accounts, AS_OF, mrr)
    base_kept = with_change.base.expected_draws_[:, 11] - without.base.expected_draws_[:, 11]
    assert base_kept.mean() == pytest.approx(0.1 * churned, rel=0.03)
    difference = change_difference(with_change, without).set_index(["month_number", "measure"])
    total = difference.loc[(12, "accounts_kept")]
    assert total.estimate > base_kept.mean() and total.lower_95 > 0
    assert difference.loc[(12, "mrr_kept")].lower_95 > 0
    # kept accounts only grow with time, and the interval is the change's, not the chance of which accounts churn
    kept_by_month = difference.xs("accounts_kept", level="measure").estimate
    assert kept_by_month.is_monotonic_increasing
    assert total.upper_95 - total.lower_95 < 0.6 * total.estimate


def test_the_change_sentence_says_where_the_forecast_ends_and_what_the_change_adds():
    from dashboard import investment_view

    changed = frame([(12, "active_accounts", 3100.0), (12, "mrr", 4.4e6)])
    difference = frame([(12, "accounts_kept", 100.0), (12, "mrr_kept", 2.0e5)])
    assert investment_view.forecast_change_sentence(changed, difference) == (
        "With the change, by 28 Dec 2027: 3,100 active accounts (2,945–3,255) and $4.4M MRR ($4.2M–$4.6M): about "
        "100 more accounts (95 to 105) and $200.0K more MRR ($190.0K to $210.0K) than without it (80% intervals).")
