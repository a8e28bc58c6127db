"""Evaluating a change that reached groups at different dates: the group-time difference-in-differences of the monthly
churn hazard on simulated staggered panels (a constant planted effect, one growing with time since the change, none,
a group drifting before its date), against the naive two-way regression, against csdid (Callaway and Sant'Anna's own
implementation) and against one stacked pyfixest regression."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest

from pipelines.models.change_effect import PRE_TREND_ALPHA, ChangeEffectError
from pipelines.models.change_staggered import StaggeredChangeEffect, group_time_rows, two_way_fixed_effects_ratio

START = pd.Timestamp("2023-07-01")
# Months from START at which the change reached each group; the accounts of "Rest" it never reached.
DATES = {"EMEA": 12, "APAC": 18, "AMER": 24}
# The groups' own levels of churn, before any change: a difference-in-differences must not mistake them for effects.
BASELINE = {"EMEA": 1.3, "APAC": 0.8, "AMER": 1.1, "Rest": 1.0}
# The panel csdid_staggered.py gives csdid; the reference values in csdid_staggered.json are for exactly this one.
REFERENCE_PANEL = {"seed": 11, "accounts": 3000, "months": 24, "dates": {"EMEA": 8, "APAC": 14, "AMER": 18}}
REFERENCE = Path(__file__).with_name("reference") / "csdid_staggered.json"


def constant(ratio: float):
    return lambda months_since: np.full(np.shape(months_since), ratio)


def growing(months_since):
    """A change whose effect builds up: a hazard ratio of 0.9 in its first month, falling evenly on the log scale to
    0.5 a year after it, and 0.5 from then on."""
    return np.exp(np.log(0.9) + np.log(0.5 / 0.9) * np.minimum(months_since, 12) / 12)


def staggered_panel(seed: int, effect=constant(0.7), accounts: int = 4000, months: int = 36,
                    dates: dict[str, int] | None = None, never_share: float = 0.3,
                    drift: tuple[str, float] | None = None) -> pd.DataFrame:
    """Accounts signed up over the two years before the window and during it, each in one group: `never_share` of
    them in "Rest", which the change never reached, the others evenly in the groups of `dates` (the month from START
    each was reached). The monthly hazard falls with tenure, has a season and the group's BASELINE level; for a
    group's accounts from its month on it is times effect(months since the change). `drift` (group, rate): that
    group's hazard is times exp(rate × months to its date) before it, so it climbs towards the date on its own."""
    dates = DATES if dates is None else dates
    rng = np.random.default_rng(seed)
    names = np.array([*dates, "Rest"])
    group = rng.choice(len(names), accounts, p=[*[(1 - never_share) / len(dates)] * len(dates), never_share])
    reached_month = np.array([dates.get(name, months + 1) for name in names])[group]
    level = np.array([BASELINE[name] for name in names])[group]
    drifting = np.where(names[group] == drift[0], drift[1], 0.0) if drift else np.zeros(accounts)
    signup = rng.integers(-24, months - 1, accounts)
    alive = np.ones(accounts, dtype=bool)
    rows = []
    for month in range(months):
        at_risk = alive & (signup <= month)
        tenure = month - signup
        since = month - reached_month
        hazard = (0.03 * np.exp(-0.03 * tenure) + 0.006) * (1 + 0.25 * np.sin(2 * np.pi * month / 12)) * level
        hazard = hazard * np.exp(drifting * np.minimum(since, 0))
        hazard = hazard * np.where(since >= 0, effect(np.maximum(since, 0)), 1.0)
        churned = at_risk & (rng.random(accounts) < 1 - np.exp(-hazard))
        index = np.flatnonzero(at_risk)
        rows.append(pd.DataFrame({"account_id": index, "month_start": START + pd.DateOffset(months=month),
                                  "tenure_days": np.maximum(tenure[index], 0) * 30,
                                  "churned": churned[index].astype(int), "mrr": 100.0,
                                  "cohort": names[group[index]]}))
        alive &= ~churned
    panel = pd.concat(rows, ignore_index=True)
    panel["treated_from"] = pd.to_datetime(panel.cohort.map({n: START + pd.DateOffset(months=m)
                                                             for n, m in dates.items()}))
    panel["is_treated"] = panel.treated_from.notna()
    return panel


def planted_average(panel: pd.DataFrame, effect) -> float:
    """The truth the overall ratio estimates: the planted log hazard ratio averaged over the reached accounts'
    months from their change on."""
    after = panel[panel.is_treated & (panel.month_start >= panel.treated_from)]
    months_since = ((after.month_start.dt.year - after.treated_from.dt.year) * 12
                    + after.month_start.dt.month - after.treated_from.dt.month)
    return float(np.mean(np.log(effect(months_since.to_numpy()))))


@pytest.mark.parametrize("truth", [0.7, 1.0])
def test_a_constant_hazard_ratio_is_found_within_its_interval(truth):
    covered, estimates = 0, []
    for seed in range(5):
        ratio = StaggeredChangeEffect(placebo_offsets=()).fit(staggered_panel(seed, constant(truth))).hazard_ratio_
        covered += ratio["ci_lower"] <= truth <= ratio["ci_upper"]
        estimates.append(ratio["log_estimate"])
    assert covered >= 4
    # the mean log ratio over the seeds is within two of its own standard errors of the truth
    assert abs(np.mean(estimates) - np.log(truth)) < 2 * np.std(estimates) / np.sqrt(len(estimates)) + 0.02


def test_an_effect_growing_with_time_since_the_change_fools_the_two_way_regression_but_not_the_group_time_cells():
    """The change's ratio goes from 0.9 to 0.5 over its first year, and it reached the groups eight months apart.
    The two-way regression compares the later groups with the earlier ones, whose churn is still falling from the
    change: their drop is subtracted from the later groups' effect, so it understates the effect (a ratio too near
    1). The group-time cells compare only with accounts not yet reached and find the planted average."""
    panel = staggered_panel(1, growing, accounts=6000, dates={"EMEA": 6, "APAC": 14, "AMER": 22}, never_share=0.2)
    truth = planted_average(panel, growing)
    naive = two_way_fixed_effects_ratio(panel)
    assert naive["log_estimate"] - truth > 0.1 and naive["ci_lower"] > np.exp(truth), (naive, truth)
    ratio = StaggeredChangeEffect(placebo_offsets=()).fit(panel).hazard_ratio_
    assert ratio["ci_lower"] <= np.exp(truth) <= ratio["ci_upper"], (ratio, truth)
    assert abs(ratio["log_estimate"] - truth) < abs(naive["log_estimate"] - truth) / 2


def test_the_event_study_is_flat_before_the_change_and_drops_after_it_on_a_clean_world():
    fitted = StaggeredChangeEffect().fit(staggered_panel(2, constant(0.6), accounts=6000))
    table = fitted.event_study_.set_index("months_from_change")
    assert -1 not in table.index and list(table.index) == [*range(-6, -1), *range(0, 13)]
    leads = table[table.index <= -2]
    assert ((leads.ci_lower <= 1) & (1 <= leads.ci_upper)).sum() >= 4  # each at 95%: one may miss by chance
    assert fitted.pre_trend_p_value_ > PRE_TREND_ALPHA
    assert np.exp(np.log(table.loc[table.index >= 0, "estimate"]).mean()) < 0.8
    assert len(fitted.placebos_) >= 1 and all(p["ci_lower"] <= 1 <= p["ci_upper"] for p in fitted.placebos_)
    assert fitted.placebos_[0]["dates"]["EMEA"] == "2024-01-01"  # a year in, moved back six months
    json.dumps([fitted.counts_, fitted.placebos_, fitted.event_study_.to_dict("records")])  # the command's JSON


def test_a_group_whose_churn_climbs_towards_its_date_is_caught_by_the_pre_trend_test():
    """No change at all, but APAC's hazard rises 5% a month relative to the others in the two years before its
    date: the months before its change are not parallel, and the test says so."""
    panel = staggered_panel(0, constant(1.0), accounts=6000, dates={"EMEA": 12, "APAC": 24}, drift=("APAC", 0.05))
    assert StaggeredChangeEffect(placebo_offsets=()).fit(panel).pre_trend_p_value_ < PRE_TREND_ALPHA


def test_a_date_mid_month_leaves_that_groups_month_out():
    panel = staggered_panel(3, constant(1.0), accounts=3000)
    emea = panel.cohort == "EMEA"
    panel.loc[emea, "treated_from"] = panel.loc[emea, "treated_from"] + pd.Timedelta(days=14)  # 15 July 2024
    fitted = StaggeredChangeEffect(placebo_offsets=()).fit(panel)
    rows = fitted.rows_.assign(cohort=panel.cohort.to_numpy()[fitted.rows_.row])
    july, june, august = (2024 * 12 + m for m in (7, 6, 8))
    assert not ((rows.cohort == "EMEA") & (rows.month == july)).any()
    assert ((rows.cohort == "APAC") & (rows.month == july)).any()  # the other groups keep the month
    emea_rows = rows[rows.cohort == "EMEA"].groupby("month").event_month.first()
    assert emea_rows[june] == -1 and emea_rows[august] == 0
    assert rows.event_month[rows.cohort == "Rest"].isna().all()
    cohorts = {c["cohort"]: c for c in fitted.counts_["cohorts"]}
    assert cohorts["EMEA"]["first_month"] == "2024-08" and cohorts["APAC"]["first_month"] == "2025-01"
    assert fitted.counts_["treated_accounts"] + fitted.counts_["never_treated_accounts"] == panel.account_id.nunique()
    first = fitted.group_time_[(fitted.group_time_.cohort == "EMEA") & (fitted.group_time_.months_from_change == 0)]
    assert first.month.iloc[0] == pd.Timestamp("2024-08-01") and first.base_months.iloc[0] == "2024-01 to 2024-06"
    assert "The month of 15 July 2024 is left out for EMEA" in " ".join(fitted.notes_)


def test_what_cannot_be_evaluated_is_refused_with_the_reason():
    panel = staggered_panel(4)
    with pytest.raises(ChangeEffectError, match="every account is in one group"):
        StaggeredChangeEffect().fit(panel.assign(cohort="EMEA", is_treated=True,
                                                 treated_from=pd.Timestamp("2024-07-01")))
    # every account reached by its group's date: from AMER's on, no account is left to compare EMEA's months with
    everyone = staggered_panel(4, accounts=4000, never_share=0.0)
    with pytest.raises(ChangeEffectError, match=r"EMEA in 2025-07 \(12 months after its change on 2024-07-01\): no "
                                                "accounts still without the change"):
        StaggeredChangeEffect().fit(everyone)
    late = panel.assign(treated_from=panel.treated_from.where(panel.cohort != "AMER", pd.Timestamp("2030-01-01")))
    with pytest.raises(ChangeEffectError, match="the date of AMER, 2030-01-01, is outside the data"):
        StaggeredChangeEffect().fit(late)
    with pytest.raises(ChangeEffectError, match="is_treated and treated_from disagree"):
        StaggeredChangeEffect().fit(panel.assign(is_treated=True))
    quiet = panel.assign(churned=panel.churned.where((panel.cohort != "APAC")
                                                     | (panel.month_start != pd.Timestamp("2025-03-01")), 0))
    with pytest.raises(ChangeEffectError, match=r"APAC in 2025-03 \(2 months after its change on 2025-01-01\): no "
                                                "churn among the accounts of the group"):
        StaggeredChangeEffect().fit(quiet)


def test_the_group_time_cells_are_callaway_and_santannas():
    """csdid (the Python port of R's `did`, Callaway and Sant'Anna's implementation) on the same panel, with the
    account-months as repeated cross-sections, the accounts not yet reached as the comparison, no covariates and
    the universal base period:

        ATTgt(yname="churned", tname="period", idname="id", gname="first_period", data=..., panel=False,
              control_group="notyettreated").fit(est_method="reg", base_period="universal", bstrap=False)

    csdid estimates differences of mean outcomes; no option of it fits a Poisson regression, so the comparison on
    the hazard-ratio scale is impossible. What it checks exactly is everything the cells are built of: which
    account-months are in each group-time cell, on which side, with which base month, under the not-yet-reached rule.
    Each event-study cell's difference of mean churn (its linear-probability analogue, without the tenure bands) must
    equal csdid's ATT(g, t) to rounding (1e-12). The Poisson fit of the cells, and their covariance, are checked
    against pyfixest below. The reference values come from tests/reference/csdid_staggered.py."""
    reference = json.loads(REFERENCE.read_text())
    assert reference["panel"] == REFERENCE_PANEL
    expected = {(r["cohort"], r["month"]): r["att"] for r in reference["att_gt"]}
    panel = staggered_panel(REFERENCE_PANEL["seed"], accounts=REFERENCE_PANEL["accounts"],
                            months=REFERENCE_PANEL["months"], dates=REFERENCE_PANEL["dates"])
    stacked = group_time_rows(panel)
    stacked = stacked[stacked.kind == "event_study"]
    means = stacked.groupby(["cell", "reached", "at_month"]).churned.mean().unstack(["reached", "at_month"])
    difference = (means[(True, True)] - means[(True, False)]) - (means[(False, True)] - means[(False, False)])
    cells = stacked[stacked.at_month].groupby("cell").agg(cohort=("cohort", "first"), month=("month", "first"))
    compared = 0
    for cell, row in cells.iterrows():
        year, month = divmod(int(row.month) - 1, 12)
        att = expected.get((row.cohort, f"{year}-{month + 1:02d}"))
        assert att is not None, (row.cohort, row.month)
        assert difference[cell] == pytest.approx(att, abs=1e-12)
        compared += 1
    assert compared == len(cells) > 40


def test_the_intervals_are_one_stacked_regression_clustered_by_account():
    """All the overall ratio's cells stacked in one pyfixest Poisson regression, with fixed effects for each cell's
    tenure bands, months and sides and a term for each cell, errors clustered by account (CRV1 with G / (G − 1)):
    the same estimates and covariance as the cell-by-cell computation, to its convergence (relative 1e-6)."""
    panel = staggered_panel(2, accounts=1500, months=14, dates={"EMEA": 6, "APAC": 9}, never_share=0.4)
    fitted = StaggeredChangeEffect(leads=3, placebo_offsets=()).fit(panel)
    stacked = group_time_rows(panel, leads=3)
    stacked = stacked[stacked.kind == "overall"]
    terms = {f"cell_{c}": ((stacked.cell == c) & stacked.reached & stacked.at_month).astype(float)
             for c in sorted(stacked.cell.unique())}
    stacked = stacked.assign(reached=stacked.reached.astype(int), **terms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.fepois("churned ~ " + " + ".join(terms) + " | cell^tenure_band + cell^month + cell^reached",
                        data=stacked, vcov={"CRV1": "account"}, ssc=pf.ssc(k_adj=False, G_adj=True), iwls_tol=1e-12)
    covariance = np.asarray(fit._vcov)
    cells = fitted.group_time_[fitted.group_time_.months_from_change >= 0]
    assert cells.log_estimate.to_numpy() == pytest.approx(fit.coef()[list(terms)].to_numpy(), rel=1e-6)
    assert cells.log_se.to_numpy() == pytest.approx(np.sqrt(np.diag(covariance)), rel=1e-6)
    weights = cells.treated_account_months.to_numpy() / cells.treated_account_months.sum()
    assert fitted.hazard_ratio_["log_se"] == pytest.approx(np.sqrt(weights @ covariance @ weights), rel=1e-6)
