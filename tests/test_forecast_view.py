"""The forecast the build stores and the overview shows: the same numbers as `retention forecast`, a filtered
selection forecast on its own accounts, and the chart and sentence that carry them."""

from __future__ import annotations

from datetime import date

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
