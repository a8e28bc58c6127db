"""Cumulative incidence per churn cause (pipelines.models.competing_risks) against R, scikit-survival and lifelines.

References and tolerances (estimates 1e-8, variances 1e-6, as the issue asks; the agreement reached is ~1e-16):
- R 4.2.2, cmprsk 2.2-11 `cuminc` + `timepoints` on 263 tied monthly accounts with three causes, overall and by
  segment: estimates and variances. The values are stored in tests/fixtures/competing_risks/ with the R script that
  made them (also in `test_incidence_matches_r_cuminc`'s docstring), so the suite needs no R.
- scikit-survival 0.28 `cumulative_incidence_competing_risks` on generated tied monthly data: estimates, overall
  survival and the log(-log) interval; its variance equals cuminc's only where no time has churn from two causes
  (shown both ways below).
- lifelines 0.30 `KaplanMeierFitter` for the overall survival and at-risk counts, and `AalenJohansenFitter` on the
  same data with the ties broken by hand (where it does not jitter).
"""

from __future__ import annotations

import inspect
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipelines.models.competing_risks import (
    INCIDENCE_COLUMNS,
    SURVIVAL_COLUMNS,
    CompetingRisksInputError,
    CumulativeIncidence,
)

FIXTURES = Path(__file__).parent / "fixtures" / "competing_risks"
CAUSE_SHARES = {"voluntary": 0.55, "involuntary": 0.35, "downgrade_to_free": 0.10}
ESTIMATE_TOLERANCE = 1e-8
VARIANCE_TOLERANCE = 1e-6
# the causes' curves and the survival telescope to 1; only float rounding over the event times is allowed
IDENTITY_TOLERANCE = 1e-12


def tied_monthly_accounts(n: int, seed: int, first_month: int = 0, one_cause_per_month: bool = False) -> pd.DataFrame:
    """Accounts followed 0-36 whole months (durations in days, 30 a month, so hundreds share a time), churning at
    about 5% a month from three causes, the rest censored at their follow-up (censoring ties with churn too).
    `one_cause_per_month` gives every month's churn one cause (the month decides it), so no time has two causes."""
    rng = np.random.default_rng(seed)
    churn_month = first_month + rng.geometric(0.05, n) - 1
    followup_month = rng.integers(first_month, 37, n)
    cause = rng.choice(list(CAUSE_SHARES), n, p=list(CAUSE_SHARES.values()))
    if one_cause_per_month:
        cause = np.array(list(CAUSE_SHARES))[churn_month % 3]
    churned = churn_month <= followup_month
    return pd.DataFrame({
        "duration_days": 30 * np.where(churned, churn_month, followup_month),
        "cause": np.where(churned, cause, None),
        "segment": rng.choice(["Basic", "Plus", "Pro"], n, p=[0.5, 0.3, 0.2]),
    })


def step_value(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """A right-continuous step function's value at each `at` (the last time <= at)."""
    return np.asarray(values)[np.searchsorted(times, at, side="right") - 1]


# --------------------------------------------------------------------------------------------
# R cmprsk::cuminc
# --------------------------------------------------------------------------------------------


def test_incidence_matches_r_cuminc():
    r"""Estimates to 1e-8 and variances to 1e-6 against R's cmprsk::cuminc, overall and by segment.

    The data have every edge of cmprsk's `cinc` variance: churn in month 0 (time 0), several causes and
    censorings at one time, a segment (Basic) whose last churn has one account at risk, and one (Pro) whose
    last two accounts churn together from two causes (survival 0). The fixture was made by
    tests/fixtures/competing_risks/cuminc.R, run from the repository root with
    `Rscript tests/fixtures/competing_risks/cuminc.R`:

        # Reference values for tests/test_competing_risks.py: R's cmprsk::cuminc on tied monthly churn, three causes.
        # Writes accounts.csv (the input) and cuminc.csv (cuminc's estimates and variances, read with timepoints()).
        # Run from the repository root: Rscript tests/fixtures/competing_risks/cuminc.R
        # Made with R 4.2.2 and cmprsk 2.2-11 (Debian bookworm: apt-get install r-base-core r-cran-cmprsk).
        library(cmprsk)
        here <- file.path("tests", "fixtures", "competing_risks")
        set.seed(26)

        # Whole months (in days, 30 a month) so many accounts share a time; followed 0 to 18 months; churn
        # from a geometric monthly hazard, so month 0 (churned in the signup month) happens and censoring ties
        # with churn.
        make_segment <- function(segment, n, monthly_hazard, cause_share) {
          churn_month <- rgeom(n, monthly_hazard)
          followup_month <- sample(0:18, n, replace = TRUE)
          churned <- churn_month <= followup_month
          cause <- sample(names(cause_share), n, replace = TRUE, prob = cause_share)
          data.frame(segment = segment, duration_days = 30 * ifelse(churned, churn_month, followup_month),
                     cause = ifelse(churned, cause, ""), stringsAsFactors = FALSE)
        }
        basic <- make_segment("Basic", 160, 0.06, c(voluntary = 0.55, involuntary = 0.35, downgrade_to_free = 0.10))
        pro <- make_segment("Pro", 100, 0.04, c(voluntary = 0.60, involuntary = 0.25, downgrade_to_free = 0.15))
        # The edges of cinc's variance: Basic ends with one account at risk that churns (tie factor 1 with n = 1);
        # Pro ends with the last two accounts churning together from two causes (survival reaches 0).
        accounts <- rbind(
          basic, data.frame(segment = "Basic", duration_days = 900, cause = "voluntary"),
          pro, data.frame(segment = "Pro", duration_days = c(960, 960), cause = c("voluntary", "involuntary")))
        write.csv(accounts, file.path(here, "accounts.csv"), row.names = FALSE)

        # Every distinct churn time plus 0: the rows CumulativeIncidence reports (a group's own times are a subset)
        grid <- sort(unique(c(0, accounts$duration_days[accounts$cause != ""])))
        tidy <- function(fit, group_label) {
          tp <- timepoints(fit, grid)
          rows <- list()
          for (curve in rownames(tp$est)) {
            cause <- sub("^\\S+ ", "", curve)  # curves are named "<group> <cause>"
            keep <- !is.na(tp$est[curve, ])    # NA past the group's last follow-up
            rows[[curve]] <- data.frame(
              group = if (is.null(group_label)) sub(" .*$", "", curve) else group_label,
              cause = cause, time_days = grid[keep],
              cumulative_incidence = sprintf("%.17g", tp$est[curve, keep]),
              variance = sprintf("%.17g", tp$var[curve, keep]), stringsAsFactors = FALSE)
          }
          do.call(rbind, rows)
        }
        overall <- cuminc(accounts$duration_days, accounts$cause, cencode = "")
        by_segment <- cuminc(accounts$duration_days, accounts$cause, group = accounts$segment, cencode = "")
        out <- rbind(tidy(overall, "all"), tidy(by_segment, NULL))
        write.csv(out, file.path(here, "cuminc.csv"), row.names = FALSE)

    Reached: estimates 2.2e-16, variances 1.0e-16 (relative 1e-12).
    """
    accounts = pd.read_csv(FIXTURES / "accounts.csv")  # an empty cause (censored) reads as NaN
    reference = pd.read_csv(FIXTURES / "cuminc.csv")
    ours = pd.concat([
        CumulativeIncidence().fit(accounts["duration_days"], accounts["cause"]).incidence_,
        CumulativeIncidence().fit(accounts["duration_days"], accounts["cause"], accounts["segment"]).incidence_,
    ])
    compared = ours.merge(reference, on=["group", "cause", "time_days"], how="left", suffixes=("", "_r"))

    assert len(compared) == len(ours)  # the reference has one row per group x cause x time
    assert compared["cumulative_incidence_r"].notna().all()
    assert set(compared["group"]) == {"all", "Basic", "Pro"}
    np.testing.assert_allclose(
        compared["cumulative_incidence"], compared["cumulative_incidence_r"], rtol=0, atol=ESTIMATE_TOLERANCE
    )
    np.testing.assert_allclose(compared["variance"], compared["variance_r"], rtol=0, atol=VARIANCE_TOLERANCE)
    # the edges are in the data: survival 0 in Pro, a lone last churn in Basic
    pro_end = ours[(ours["group"] == "Pro") & (ours["time_days"] == 960)]
    assert (pro_end["at_risk"] == 2).all() and pro_end["cumulative_incidence"].sum() == pytest.approx(1.0)
    basic_end = ours[(ours["group"] == "Basic") & (ours["time_days"] == 900)]
    assert (basic_end["at_risk"] == 1).all()


def test_r_script_in_the_docstring_is_the_one_stored_beside_the_fixture():
    """The fixture's provenance cannot drift: the docstring quotes cuminc.R verbatim."""
    script = (FIXTURES / "cuminc.R").read_text(encoding="utf-8")
    assert textwrap.indent(script, "    ") in inspect.getdoc(test_incidence_matches_r_cuminc)


# --------------------------------------------------------------------------------------------
# scikit-survival
# --------------------------------------------------------------------------------------------


def scikit_survival_curves(accounts: pd.DataFrame, causes: list, level: float = 0.95) -> dict[str, np.ndarray]:
    """scikit-survival's estimates, overall survival and log(-log) interval, with its variance read back from
    the interval's upper bound, F^{exp(z s / (F log F))}, where 0 < F < 1 (its variance is not public)."""
    nonparametric = pytest.importorskip("sksurv.nonparametric")
    code = {label: k + 1 for k, label in enumerate(causes)}
    events = accounts["cause"].map(code).fillna(0).to_numpy(dtype=int)
    times, incidence, interval = nonparametric.cumulative_incidence_competing_risks(
        events, accounts["duration_days"].to_numpy(dtype=float), conf_level=level, conf_type="log-log"
    )
    estimate, upper = incidence[1:], interval[1:, 1]
    z = stats.norm.isf((1 - level) / 2)
    inside = (estimate > 0) & (estimate < 1) & (upper > estimate)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_f = np.log(estimate)
        spread = np.log(np.log(upper) / log_f)
        variance = np.where(inside, (spread * estimate * log_f / z) ** 2, 0.0)
    return {
        "time": times, "incidence": estimate, "survival": 1 - incidence[0], "ci_lower": interval[1:, 0],
        "ci_upper": upper, "variance": variance,
    }


def compare_to_scikit_survival(accounts: pd.DataFrame) -> pd.DataFrame:
    """Our rows beside scikit-survival's values at the same times (theirs has every distinct time, ours the
    churn times and 0, so ours are a subset)."""
    fitted = CumulativeIncidence().fit(accounts["duration_days"], accounts["cause"])
    reference = scikit_survival_curves(accounts, fitted.causes_)
    rows = []
    for k, cause in enumerate(fitted.causes_):
        ours = fitted.incidence_[fitted.incidence_["cause"] == cause]
        position = np.searchsorted(reference["time"], ours["time_days"].to_numpy())
        assert (reference["time"][position] == ours["time_days"].to_numpy()).all()
        rows.append(ours.assign(**{
            f"{name}_sk": reference[name][k][position] for name in ("incidence", "variance", "ci_lower", "ci_upper")
        }, survival_sk=reference["survival"][position]))
    survival = fitted.survival_.set_index("time_days")["survival"]
    return pd.concat(rows).assign(survival=lambda d: survival.loc[d["time_days"]].to_numpy())


def test_incidence_matches_scikit_survival_on_tied_monthly_data():
    """Estimates and overall survival to 1e-8 against scikit-survival on 3,000 accounts with 37 tied monthly
    times, three causes (often two or three at one time) and censoring. Reached: 1e-16."""
    compared = compare_to_scikit_survival(tied_monthly_accounts(3000, seed=26))

    assert compared["cause"].nunique() == 3 and compared["time_days"].nunique() == 37
    np.testing.assert_allclose(
        compared["cumulative_incidence"], compared["incidence_sk"], rtol=0, atol=ESTIMATE_TOLERANCE
    )
    np.testing.assert_allclose(compared["survival"], compared["survival_sk"], rtol=0, atol=ESTIMATE_TOLERANCE)


def test_variance_and_interval_match_scikit_survival_where_no_time_has_two_causes():
    """Where no time has churn from two causes, scikit-survival's "Aalen" variance and cmprsk's are the same
    formula: variances to 1e-6 and the log(-log) interval to 1e-8 (our transform is theirs). Reached: 1e-18 and
    1e-16."""
    compared = compare_to_scikit_survival(tied_monthly_accounts(3000, seed=26, one_cause_per_month=True))

    assert (compared.groupby("time_days")["events"].apply(lambda e: (e > 0).sum()) <= 1).all()
    assert (compared["at_risk"] > 1).all()  # scikit-survival also drops a lone last account's term; not here
    np.testing.assert_allclose(compared["variance"], compared["variance_sk"], rtol=0, atol=VARIANCE_TOLERANCE)
    np.testing.assert_allclose(compared["ci_lower"], compared["ci_lower_sk"], rtol=0, atol=ESTIMATE_TOLERANCE)
    np.testing.assert_allclose(compared["ci_upper"], compared["ci_upper_sk"], rtol=0, atol=ESTIMATE_TOLERANCE)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="scikit-survival's Aalen variance counts a time with churn from cause k and from others by the total, "
    "d(n - d); cmprsk's cinc (the reference, matched to 1e-16 in test_incidence_matches_r_cuminc) by "
    "d_k(n - d_k) + d_other(n - d_other). On this data they differ by up to 1.4e-6.",
)
def test_variance_matches_scikit_survival_on_tied_monthly_data():
    """Variances to 1e-6 against scikit-survival on the tied data of
    test_incidence_matches_scikit_survival_on_tied_monthly_data, where most months have churn from two or three
    causes. Expected to fail while the two implementations count such ties differently (see the reason). On the R
    fixture scikit-survival's variance is up to 5.4e-5 from cuminc's (its estimates agree to 1e-16), ours 1e-16."""
    compared = compare_to_scikit_survival(tied_monthly_accounts(3000, seed=26))

    np.testing.assert_allclose(compared["variance"], compared["variance_sk"], rtol=0, atol=VARIANCE_TOLERANCE)


# --------------------------------------------------------------------------------------------
# lifelines
# --------------------------------------------------------------------------------------------


def test_overall_survival_matches_lifelines_kaplan_meier():
    """`survival_` and its at-risk counts against lifelines' KaplanMeierFitter (all causes as churn), per segment:
    survival to 1e-12, at risk exactly."""
    from lifelines import KaplanMeierFitter

    accounts = tied_monthly_accounts(3000, seed=26)
    fitted = CumulativeIncidence().fit(accounts["duration_days"], accounts["cause"], accounts["segment"])
    for segment, rows in accounts.groupby("segment"):
        kmf = KaplanMeierFitter().fit(rows["duration_days"], rows["cause"].notna())
        ours = fitted.survival_[fitted.survival_["group"] == segment].set_index("time_days")
        theirs = kmf.survival_function_.iloc[:, 0].loc[ours.index]
        np.testing.assert_allclose(ours["survival"], theirs, rtol=0, atol=1e-12)
        assert (ours["at_risk"] == kmf.event_table["at_risk"].loc[ours.index]).all()
        assert (ours["events"] == kmf.event_table["observed"].loc[ours.index]).all()


def test_tied_times_need_no_jitter():
    """Tied monthly churn is exact as it stands: it equals lifelines' AalenJohansenFitter on the same accounts
    with every tie broken by hand (each month's churns spread over distinct times in a shuffled order, its
    censorings after them), where lifelines has nothing to jitter. Estimates to 1e-12.

    On the tied data itself lifelines' AalenJohansenFitter warns "Tied event times were detected" and moves each
    churn by a random ±1e-4 (global numpy state, `seed=` fixes it). A churn moved past the accounts censored in
    its month removes them from the risk set too early, so the result depends on the draw. On these accounts
    (lifelines 0.30, codes 1-3 for downgrade_to_free, involuntary, voluntary), read at each month end,
    `AalenJohansenFitter(seed=s).fit(d, e, event_of_interest=3)` (voluntary) is off from the exact value by up to
    0.0073 for s = 0, 1, 2, the error growing month by month; involuntary (code 2) is off by 0.0073 with seed 2 but
    by 0.12 with seeds 0 and 1, where the last month's one involuntary churn is moved past the 15 accounts censored
    that month and meets a risk set of 1 instead of 16. Ours takes no seed and needs none.

    Churn starts at month 1 here: lifelines sets its first row to 0 even when churn happens at time 0.
    """
    from lifelines import AalenJohansenFitter

    accounts = tied_monthly_accounts(3000, seed=26, first_month=1)
    fitted = CumulativeIncidence().fit(accounts["duration_days"], accounts["cause"])
    rng = np.random.default_rng(7)
    untied = accounts["duration_days"].astype(float).to_numpy()
    churned = accounts["cause"].notna().to_numpy()
    for month_days in np.unique(untied[churned]):
        at_month = np.flatnonzero(churned & (untied == month_days))
        untied[rng.permutation(at_month)] = month_days + 0.001 * np.arange(1, len(at_month) + 1)
    untied[~churned] += 0.5  # censored after every churn of the month: they were at risk for all of them
    codes = accounts["cause"].map({c: k + 1 for k, c in enumerate(fitted.causes_)}).fillna(0).astype(int)

    for k, cause in enumerate(fitted.causes_):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a jitter warning would mean lifelines still saw ties
            lifelines_fit = AalenJohansenFitter(calculate_variance=False).fit(untied, codes, event_of_interest=k + 1)
        curve = lifelines_fit.cumulative_density_.iloc[:, 0]
        ours = fitted.incidence_[fitted.incidence_["cause"] == cause]
        at_month_end = step_value(curve.index.to_numpy(), curve.to_numpy(), ours["time_days"].to_numpy() + 0.5)
        np.testing.assert_allclose(ours["cumulative_incidence"], at_month_end, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Properties a user relies on
# --------------------------------------------------------------------------------------------


def test_hand_computed_tied_example():
    """Six accounts, with ties of two causes and a censoring at one time; the recurrences by hand:
    t=30: n=6, one A, one B, one censored: S = 4/6, F_A = F_B = 1/6;
    t=60: n=3, one A: F_A = 1/6 + (2/3)(1/3) = 7/18, S = 4/9;
    t=90: n=2, one B, one censored: F_B = 1/6 + (4/9)(1/2) = 7/18, S = 2/9."""
    fitted = CumulativeIncidence().fit([30, 30, 30, 60, 90, 90], ["A", "B", None, "A", "B", 0])

    expected = pd.DataFrame({
        "group": "all",
        "cause": ["A"] * 4 + ["B"] * 4,
        "time_days": [0, 30, 60, 90] * 2,
        "cumulative_incidence": [0, 1 / 6, 7 / 18, 7 / 18, 0, 1 / 6, 1 / 6, 7 / 18],
        "at_risk": [6, 6, 3, 2] * 2,
        "events": [0, 1, 1, 0, 0, 1, 0, 1],
    })
    pd.testing.assert_frame_equal(fitted.incidence_[expected.columns], expected, check_exact=False, rtol=0, atol=1e-15)
    np.testing.assert_allclose(fitted.survival_["survival"], [1, 4 / 6, 4 / 9, 2 / 9], rtol=0, atol=1e-15)
    assert list(fitted.incidence_.columns) == INCIDENCE_COLUMNS
    assert list(fitted.survival_.columns) == SURVIVAL_COLUMNS


@pytest.mark.parametrize("by_segment", [False, True])
@pytest.mark.parametrize("data", ["tied monthly", "daily"])
def test_causes_and_survival_sum_to_one(by_segment, data):
    """Sum over causes of the incidence plus the overall survival is 1 at every time, within 1e-12; also on daily
    data with ~1,000 distinct times (rounding grows with the number of times)."""
    if data == "tied monthly":
        accounts = tied_monthly_accounts(3000, seed=26)
    else:
        rng = np.random.default_rng(3)
        accounts = pd.DataFrame({
            "duration_days": rng.integers(0, 1100, 20000),
            "cause": rng.choice(["voluntary", "involuntary", None], 20000, p=[0.3, 0.2, 0.5]),
            "segment": rng.choice(["a", "b"], 20000),
        })
    fitted = CumulativeIncidence().fit(
        accounts["duration_days"], accounts["cause"], accounts["segment"] if by_segment else None
    )
    causes_total = fitted.incidence_.groupby(["group", "time_days"])["cumulative_incidence"].sum()
    survival = fitted.survival_.set_index(["group", "time_days"])["survival"]
    assert causes_total.index.equals(survival.index)
    assert np.abs(causes_total + survival - 1).max() < IDENTITY_TOLERANCE


def test_by_group_curves_equal_separate_fits():
    """Each segment's curves are exactly the fit on that segment's accounts alone (given the same causes)."""
    accounts = tied_monthly_accounts(3000, seed=26)
    fitted = CumulativeIncidence().fit(accounts["duration_days"], accounts["cause"], accounts["segment"])

    assert fitted.groups_ == ["Basic", "Plus", "Pro"]
    for segment, rows in accounts.groupby("segment"):
        alone = CumulativeIncidence(causes=fitted.causes_).fit(rows["duration_days"], rows["cause"])
        for attribute in ("incidence_", "survival_"):
            grouped = getattr(fitted, attribute)
            grouped = grouped[grouped["group"] == segment].drop(columns="group").reset_index(drop=True)
            pd.testing.assert_frame_equal(grouped, getattr(alone, attribute).drop(columns="group"), check_exact=True)


def test_two_runs_and_any_row_order_give_identical_output():
    """No randomness: refitting, or fitting the rows shuffled, gives the same frames bit for bit, with groups and
    causes in sorted order and the missing-segment group last."""
    accounts = tied_monthly_accounts(2000, seed=26)
    accounts.loc[accounts.index[:40], "segment"] = None
    first = CumulativeIncidence().fit(accounts["duration_days"], accounts["cause"], accounts["segment"])
    second = CumulativeIncidence().fit(accounts["duration_days"], accounts["cause"], accounts["segment"])
    shuffled = accounts.sample(frac=1, random_state=np.random.default_rng(1))
    third = CumulativeIncidence().fit(shuffled["duration_days"], shuffled["cause"], shuffled["segment"])

    for other in (second, third):
        pd.testing.assert_frame_equal(first.incidence_, other.incidence_, check_exact=True)
        pd.testing.assert_frame_equal(first.survival_, other.survival_, check_exact=True)
    assert first.causes_ == ["downgrade_to_free", "involuntary", "voluntary"]
    assert first.groups_ == ["Basic", "Plus", "Pro", "(missing)"]
    assert list(first.incidence_["group"].drop_duplicates()) == first.groups_


def test_categorical_labels_keep_their_category_order():
    """A categorical's categories set the order (the analyst's), keeping only those present."""
    causes = pd.Series(["voluntary", None, "involuntary", "voluntary"], dtype="category")
    causes = causes.cat.set_categories(["voluntary", "involuntary", "unknown"])
    groups = pd.Series(["Pro", "Basic", "Pro", "Basic"]).astype(pd.CategoricalDtype(["Pro", "Plus", "Basic"]))
    fitted = CumulativeIncidence().fit([30, 30, 60, 90], causes, groups)

    assert fitted.causes_ == ["voluntary", "involuntary"]
    assert fitted.groups_ == ["Pro", "Basic"]
    assert list(fitted.incidence_["group"].drop_duplicates()) == ["Pro", "Basic"]


def test_intervals_stay_within_zero_and_one_and_cover_the_estimate():
    """On the R fixture (survival reaching 0, a lone last churn), a two-account segment where one cause takes
    everyone (F = 1) and a 99% level: 0 <= lower <= F <= upper <= 1 on every row."""
    accounts = pd.read_csv(FIXTURES / "accounts.csv")
    tiny = pd.DataFrame({"segment": "Tiny", "duration_days": [30, 60], "cause": ["voluntary", "voluntary"]})
    accounts = pd.concat([accounts, tiny], ignore_index=True)
    for level in (0.95, 0.99):
        rows = CumulativeIncidence(level=level).fit(
            accounts["duration_days"], accounts["cause"], accounts["segment"]
        ).incidence_
        assert (rows["ci_lower"] >= 0).all() and (rows["ci_upper"] <= 1).all()
        assert (rows["ci_lower"] <= rows["cumulative_incidence"]).all()
        assert (rows["cumulative_incidence"] <= rows["ci_upper"]).all()
        assert ((rows["ci_upper"] - rows["ci_lower"] > 0) == (
            (rows["variance"] > 0) & (rows["cumulative_incidence"] > 0) & (rows["cumulative_incidence"] < 1)
        )).all()
    everyone = rows[(rows["group"] == "Tiny") & (rows["cause"] == "voluntary")].iloc[-1]
    assert everyone["cumulative_incidence"] == 1 and everyone["ci_lower"] == everyone["ci_upper"] == 1


def test_wider_level_gives_wider_intervals():
    accounts = tied_monthly_accounts(500, seed=26)
    narrow = CumulativeIncidence(level=0.8).fit(accounts["duration_days"], accounts["cause"]).incidence_
    wide = CumulativeIncidence(level=0.99).fit(accounts["duration_days"], accounts["cause"]).incidence_
    moving = narrow["ci_upper"] > narrow["ci_lower"]
    assert moving.any()
    assert (wide["ci_lower"][moving] < narrow["ci_lower"][moving]).all()
    assert (wide["ci_upper"][moving] > narrow["ci_upper"][moving]).all()


def test_no_churn_at_all_gives_zero_incidence():
    """Accounts all still active: survival 1 at time 0; the listed causes get all-zero curves with zero variance,
    and without a list there are no causes to report."""
    listed = CumulativeIncidence(causes=["voluntary", "involuntary"]).fit([10, 40, 40], [None, 0, np.nan])
    zero = {"time_days": 0, "cumulative_incidence": 0.0, "variance": 0.0, "ci_lower": 0.0, "ci_upper": 0.0}
    assert listed.incidence_[["cause", *zero]].to_dict("records") == [
        {"cause": "voluntary", **zero}, {"cause": "involuntary", **zero}
    ]
    assert listed.survival_[["time_days", "survival", "at_risk"]].to_dict("records") == [
        {"time_days": 0, "survival": 1.0, "at_risk": 3}
    ]
    unlisted = CumulativeIncidence().fit([10, 40, 40], [None, 0, np.nan])
    assert unlisted.causes_ == [] and unlisted.incidence_.empty
    assert list(unlisted.incidence_.columns) == INCIDENCE_COLUMNS


def test_churn_at_time_zero_is_the_first_row():
    """Churn on the start day is the time-0 row itself (after its jump), not a second row at 0; numeric causes
    (as scikit-survival codes them) keep their numeric order."""
    fitted = CumulativeIncidence().fit(np.array([0, 0, 5, 7]), np.array([2, 0, 10, 2]))
    assert fitted.causes_ == [2, 10]
    two = fitted.incidence_[fitted.incidence_["cause"] == 2]
    assert two["time_days"].tolist() == [0, 5, 7]
    assert two["cumulative_incidence"].tolist() == pytest.approx([0.25, 0.25, 0.25 + 0.75 * 0.5 * 1.0])
    assert fitted.incidence_["time_days"].dtype == np.int64


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("durations", "causes", "groups", "message"),
    [
        ([10, -1, 20], ["a", None, "b"], None, r"durations has 1 negative durations, first at row 1"),
        ([10, np.nan, 20], ["a", None, "b"], None, r"durations has 1 missing \(NaN\) durations, first at row 1"),
        ([10, np.inf, 20], ["a", None, "b"], None, r"durations has 1 infinite durations"),
        ([10, "soon", 20], ["a", None, "b"], None, r"durations must be numbers of days; row 1 is 'soon'"),
        ([10, 20], ["a", None, "b"], None, r"causes has 3 values but durations has 2"),
        ([10, 20], ["a", None], ["x"], r"groups has 1 values but durations has 2"),
        ([10, 20], ["a", " "], None, r"causes has 1 empty cause label\(s\), first at row 1"),
        ([], [], None, r"durations is empty"),
        ([[10, 20]], [["a", "b"]], None, r"durations must be 1-D"),
    ],
)
def test_bad_input_names_the_problem(durations, causes, groups, message):
    with pytest.raises(CompetingRisksInputError, match=message) as raised:
        CumulativeIncidence().fit(durations, causes, groups)
    assert isinstance(raised.value, ValueError)


def test_bad_input_names_the_column_and_index_of_a_series():
    durations = pd.Series([10.0, -3.0], index=["acct-1", "acct-2"], name="duration_days")
    with pytest.raises(CompetingRisksInputError, match=r"durations \('duration_days'\) .* row 1 \(index 'acct-2'\)"):
        CumulativeIncidence().fit(durations, pd.Series(["a", None], index=durations.index))


def test_cause_outside_the_given_list_and_bad_settings_are_refused():
    with pytest.raises(CompetingRisksInputError, match=r"cause\(s\) \['downgrade'\] not in the causes given"):
        CumulativeIncidence(causes=["voluntary"]).fit([1, 2], ["voluntary", "downgrade"])
    with pytest.raises(CompetingRisksInputError, match="level must be a number between 0 and 1"):
        CumulativeIncidence(level=95)
    with pytest.raises(CompetingRisksInputError, match="lists a cause twice"):
        CumulativeIncidence(causes=["a", "a"])
    with pytest.raises(CompetingRisksInputError, match="marks a censored account"):
        CumulativeIncidence(causes=["a", None])
