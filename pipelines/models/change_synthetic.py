"""Did a support change that reached one group keep customers, when there are only a few other groups to compare it
with? A synthetic control of the monthly churn hazard.

The reached accounts form one treated unit; the donors are the other groups of accounts (the panel's `unit` column:
a region, a team, a plan) the change did not reach. A difference-in-differences would weigh all of them alike; a
synthetic control picks the weighted mix of donors whose churn moved most like the treated group's before the change,
and takes that mix after the change as what the treated group's churn would have been without it.

The series compared, per unit and month, is the tenure-standardised hazard: the unit's churns over the churns its
accounts would have had at the tenure-band rates of all units before the change. A unit of younger accounts churns
more for its tenure alone; standardising keeps that from passing for risk. Each unit's series is then taken relative
to its own average before the change, so the weights match the treated group's path, not its level: with a handful
of donors the treated group's level is often outside any mix of theirs, and a constant ratio between two groups is
not an effect (the same allowance a difference-in-differences makes). The donors' weights (non-negative, summing to
1) minimise the squared gap to the treated group's path over the months before the change: a convex quadratic
programme on the simplex, solved with scipy's SLSQP, which keeps both constraints exactly (the non-negative least
squares trick of a heavily weighted row for the sum only approximates it), and with a dozen donors at most is
instant. pysyncon was considered and not used: its weights also search for a predictor weighting (V), which with the
pre-period outcomes as the only predictors adds a nested optimisation and nothing else.

The hazard ratio is the treated group's churns after the change over the churns the synthetic hazard predicts for its
accounts: a ratio of hazards over the months after the change, each month weighted by the treated group's expected
churns.

Inference is by in-space placebos: each donor in turn is treated as if the change had reached it, with the other
donors as its pool. Its ratio of post- to pre-change fit (RMSPE) says how far it left its synthetic after the change
relative to how well it was matched before; the p-value is the treated group's rank among all units on that ratio.
With J donors the smallest possible p-value is 1 / (J + 1): with 3 donors a quarter, whatever the data. The interval
takes the donors' placebo log hazard ratios as the spread of the estimate when nothing happened (mean 0, Student's t
with J degrees of freedom), never narrower than the treated group's own churn counts allow: wide with few donors, as
it should be, and it assumes the treated group's estimate is as noisy as a donor's. Placebo dates before the change
(PLACEBO_OFFSETS_MONTHS), judged the same way on the months before it, should find nothing (`time_placebos_`;
`pre_trend_p_value_` is their smallest p-value times their number, so with few donors it cannot be small either).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .change_effect import PLACEBO_OFFSETS_MONTHS, ChangeEffectError
from .change_effect import account_months
from .change_its import ROWS_COLUMNS, pooled_bands

# The weights are fitted to the months before the change: fewer than a year and they fit the noise of a few months
# and part of a season.
MIN_MONTHS_BEFORE = 12
# A placebo date's weights are fitted to the months before it: half a year at least.
PLACEBO_MIN_MONTHS = 6
# One donor is a comparison, not a synthetic control, and its placebo has nothing to be compared with.
MIN_DONORS = 2


def simplex_weights(donors: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The weights w ≥ 0, Σw = 1, minimising ‖donors @ w − target‖² (donors: months × units)."""
    count = donors.shape[1]
    if count == 1:
        return np.ones(1)
    result = optimize.minimize(
        lambda w: 0.5 * float(np.sum((donors @ w - target) ** 2)), np.full(count, 1.0 / count),
        jac=lambda w: donors.T @ (donors @ w - target), method="SLSQP", bounds=[(0.0, 1.0)] * count,
        constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0, "jac": lambda w: np.ones_like(w)}],
        options={"ftol": 1e-12, "maxiter": 500})
    weights = np.clip(result.x, 0.0, None)  # SLSQP may leave a rounding-sized negative where the bound is active
    return weights / weights.sum()


@dataclass
class _Synthetic:
    weights: np.ndarray
    path: np.ndarray  # the unit's standardised hazard relative to its own level before the boundary, per month
    synthetic: np.ndarray  # the weighted donors' same, per month
    log_ratio: float  # of the months after the boundary: observed churns over the synthetic's
    pre_rmspe: float
    post_rmspe: float
    counting_se: float  # of log_ratio from the unit's own churn counts alone, as if its synthetic were exact

    @property
    def rmspe_ratio(self) -> float:
        return self.post_rmspe / max(self.pre_rmspe, 1e-12)


def _synthesize(observed: np.ndarray, expected: np.ndarray, target: int, donors: list[int], pre: np.ndarray,
                post: np.ndarray) -> _Synthetic:
    """The synthetic control of unit `target` from `donors` (rows of the unit × month matrices), weights fitted on
    the months of `pre`, judged on those of `post`."""
    units = [target, *donors]
    level = observed[units][:, pre].sum(axis=1) / expected[units][:, pre].sum(axis=1)
    path = observed[units] / expected[units] / level[:, None]
    weights = simplex_weights(path[1:][:, pre].T, path[0, pre])
    synthetic = weights @ path[1:]
    gap = path[0] - synthetic
    counterfactual = expected[target] * level[0] * synthetic
    return _Synthetic(weights=weights, path=path[0], synthetic=synthetic,
                      log_ratio=float(np.log(observed[target, post].sum() / counterfactual[post].sum())),
                      pre_rmspe=float(np.sqrt(np.mean(gap[pre] ** 2))),
                      post_rmspe=float(np.sqrt(np.mean(gap[post] ** 2))),
                      counting_se=float(np.sqrt(1 / observed[target, post].sum() + 1 / observed[target, pre].sum())))


@dataclass
class SyntheticControl:
    """Synthetic control of a change that reached one group of accounts from `change_date`, against a few others.

    fit(panel) takes read_change_panel's frame with a `unit` column (the group each account belongs to): the accounts
    with is_treated are the treated unit, the other accounts' units the donors. Learned: hazard_ratio_ {estimate,
    ci_lower, ci_upper, log_estimate, log_se, p_value} (p from the in-space placebos' rank), weights_ (unit, weight),
    event_study_ (the treated / synthetic ratio each month, with the placebos' band), placebos_ (one per donor),
    time_placebos_ and pre_trend_p_value_, counts_, notes_ and rows_ (one row per usable panel row).
    """

    design_caveat: ClassVar[str] = (
        "A synthetic control credits the change with the gap between the reached group and its weighted mix of other "
        "groups only if that mix, which followed the group before the change, would have gone on following it; with "
        "few groups the p-value cannot be small, whatever the data.")

    change_date: date
    level: float = 0.95
    hazard_ratio_: dict = field(default_factory=dict, init=False)
    weights_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)
    event_study_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)
    pre_trend_p_value_: float | None = field(default=None, init=False)
    placebos_: list[dict] = field(default_factory=list, init=False)
    time_placebos_: list[dict] = field(default_factory=list, init=False)
    counts_: dict = field(default_factory=dict, init=False)
    notes_: list[str] = field(default_factory=list, init=False)
    rows_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)

    def fit(self, panel: pd.DataFrame) -> SyntheticControl:
        rows, treated_name = self._design(panel)
        names, observed, expected, events = self._series(rows, treated_name)
        donors = list(range(1, len(names)))
        pre, post = events < 0, events >= 0
        treated = _synthesize(observed, expected, 0, donors, pre, post)
        placebos = [_synthesize(observed, expected, j, [d for d in donors if d != j], pre, post) for j in donors]
        self.weights_ = pd.DataFrame({"unit": names[1:], "weight": treated.weights})
        self.hazard_ratio_ = self._inference(treated, placebos)
        self.event_study_ = self._event_study(events, treated, placebos)
        self.placebos_ = [
            {"unit": names[j], "estimate": float(np.exp(p.log_ratio)), "pre_rmspe": p.pre_rmspe,
             "post_rmspe": p.post_rmspe, "rmspe_ratio": p.rmspe_ratio,
             "ratios": [{"months_from_change": int(k), "ratio": float(r / s)}
                        for k, r, s in zip(events, p.path, p.synthetic) if s > 0]}
            for j, p in zip(donors, placebos)]
        self.time_placebos_ = self._time_placebos(observed, expected, events, donors)
        self.pre_trend_p_value_ = (min(1.0, len(self.time_placebos_) * min(p["p_value"] for p in self.time_placebos_))
                                   if self.time_placebos_ else None)
        self.counts_.update(
            units=len(names), donors=self.weights_.to_dict("records"), pre_rmspe=treated.pre_rmspe,
            post_rmspe=treated.post_rmspe, rmspe_ratio=treated.rmspe_ratio, smallest_p_value=1 / len(names))
        self.notes_ = self._notes(len(donors))
        self.rows_ = rows.loc[rows.label.isin(names), ROWS_COLUMNS].reset_index(drop=True)
        return self

    # --- the design -------------------------------------------------------------------------------------------

    def _design(self, panel: pd.DataFrame) -> tuple[pd.DataFrame, str]:
        rows = account_months(panel, self.change_date, extra=("unit",))
        rows = rows[rows.unit.notna()].reset_index(drop=True)
        reached = rows.loc[rows.treated, "unit"].astype(str).unique()
        if len(reached) == 0:
            raise ChangeEffectError("no account in the panel was reached by the change (is_treated is false "
                                    "throughout): name the accounts it reached")
        name = str(reached[0]) if len(reached) == 1 else "reached accounts"
        if name in set(rows.unit[~rows.treated].astype(str)):  # the reached group's unit also has accounts it missed
            name = f"{name} (reached)"
        rows["label"] = np.where(rows.treated, name, rows.unit.astype(str))
        before, after = rows.event_month < 0, rows.event_month >= 0
        self.counts_ = {
            "treated_unit": name,
            "months_before": int(rows.event_month[before].nunique()),
            "months_after": int(rows.event_month[after].nunique()),
        }
        if self.counts_["months_before"] < MIN_MONTHS_BEFORE:
            raise ChangeEffectError(
                f"a synthetic control needs at least {MIN_MONTHS_BEFORE} whole months before the change to fit the "
                f"donors' weights; the data have {self.counts_['months_before']} before "
                f"{self.change_date:%Y-%m-%d}: load a longer history or evaluate a later change")
        if self.counts_["months_after"] == 0:
            raise ChangeEffectError(f"the data have no whole month after {self.change_date:%Y-%m-%d}")
        return rows, name

    def _series(self, rows: pd.DataFrame, treated: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Per unit (the treated first) and month: observed churns and the churns expected at all units' tenure-band
        rates before the change. Donors that cannot be compared are left out, and said so in counts_ and notes_."""
        before = rows[rows.event_month < 0]
        by_band = before.groupby("tenure_band").churned.agg(["sum", "size"])
        bands = pooled_bands(by_band["sum"])
        pooled = by_band.groupby(by_band.index.map(bands)).sum()
        rate_of_group = (pooled["sum"] / pooled["size"]).to_dict()
        rate = {band: rate_of_group[bands[min(bands, key=lambda seen: abs(seen - band))]]
                for band in range(int(rows.tenure_band.max()) + 1)}
        rows = rows.assign(expected=rows.tenure_band.map(rate).to_numpy(dtype=float))
        table = rows.groupby(["label", "event_month"]).agg(observed=("churned", "sum"), expected=("expected", "sum"))
        observed = table.observed.unstack("event_month")
        expected = table.expected.unstack("event_month")
        months = observed.columns[observed.loc[treated].notna()]
        observed, expected = observed[months], expected[months]
        events = np.asarray(months)
        pre, post = events < 0, events >= 0

        if observed.loc[treated, pre].sum() == 0 or observed.loc[treated, post].sum() == 0:
            raise ChangeEffectError("the reached accounts need churns both before and after the change to compare")
        dropped = {}
        for unit in observed.index.drop(treated):
            if expected.loc[unit].isna().any() or (expected.loc[unit] == 0).any():
                dropped[unit] = "no accounts at risk in some months"
            elif observed.loc[unit, pre].sum() == 0 or observed.loc[unit, post].sum() == 0:
                dropped[unit] = "no churn before or after the change"
        names = [treated] + [unit for unit in observed.index if unit != treated and unit not in dropped]
        if len(names) - 1 < MIN_DONORS:
            kept = f"{len(names) - 1} usable" + (f" ({len(dropped)} left out: "
                                                 + "; ".join(f"{u}: {why}" for u, why in dropped.items()) + ")"
                                                 if dropped else "")
            raise ChangeEffectError(
                f"a synthetic control needs at least {MIN_DONORS} other groups of accounts (donors) the change did not "
                f"reach; the panel's unit column gives {kept}: use a finer unit (e.g. team instead of region), or a "
                "difference-in-differences against all other accounts")
        used = rows[rows.label.isin(names)]
        reached = used.treated
        b, a = used.event_month < 0, used.event_month >= 0
        self.counts_.update(
            treated_accounts=int(used.account[reached].nunique()),
            comparison_accounts=int(used.account[~reached].nunique()),
            churns_treated_before=int(used.churned[reached & b].sum()),
            churns_treated_after=int(used.churned[reached & a].sum()),
            churns_comparison_before=int(used.churned[~reached & b].sum()),
            churns_comparison_after=int(used.churned[~reached & a].sum()),
            dropped_donors=[{"unit": unit, "reason": why} for unit, why in dropped.items()])
        return (names, observed.loc[names].to_numpy(dtype=float), expected.loc[names].to_numpy(dtype=float),
                events)

    # --- inference --------------------------------------------------------------------------------------------

    def _inference(self, treated: _Synthetic, placebos: list[_Synthetic]) -> dict:
        """p: the treated unit's rank among all units on the post/pre RMSPE ratio; interval: the placebos' log ratios
        as the spread of the estimate when nothing happened, never narrower than the treated group's own churn counts
        allow (a few placebos that happen to agree would otherwise claim more precision than the counts hold)."""
        ratios = np.array([p.rmspe_ratio for p in placebos])
        p_value = (1 + np.sum(ratios >= treated.rmspe_ratio)) / (len(placebos) + 1)
        se = max(float(np.sqrt(np.mean([p.log_ratio ** 2 for p in placebos]))), treated.counting_se)
        q = stats.t.ppf(0.5 + self.level / 2, len(placebos))
        estimate = treated.log_ratio
        return {"estimate": float(np.exp(estimate)), "ci_lower": float(np.exp(estimate - q * se)),
                "ci_upper": float(np.exp(estimate + q * se)), "log_estimate": estimate, "log_se": se,
                "p_value": float(p_value)}

    def _event_study(self, events: np.ndarray, treated: _Synthetic, placebos: list[_Synthetic]) -> pd.DataFrame:
        """Each month's treated / synthetic ratio; its band is how far the donors' own paths strayed from their
        synthetics that month (the gap, not its log: a donor's month without churn has a ratio of 0)."""
        gaps = np.array([p.path - p.synthetic for p in placebos])
        spread = np.sqrt(np.mean(gaps ** 2, axis=0))
        q = stats.t.ppf(0.5 + self.level / 2, len(placebos))
        out = []
        for k, path, synthetic, width in zip(events, treated.path, treated.synthetic, spread):
            if synthetic <= 0:
                continue
            out.append({"months_from_change": int(k), "estimate": float(path / synthetic),
                        "ci_lower": float(max(0.0, (path - q * width) / synthetic)),
                        "ci_upper": float((path + q * width) / synthetic)})
        return pd.DataFrame(out)

    def _time_placebos(self, observed: np.ndarray, expected: np.ndarray, events: np.ndarray,
                       donors: list[int]) -> list[dict]:
        """The same design and inference at dates before the change, on the months before it only: a mix that
        followed the treated group should not leave it before the change."""
        out = []
        for offset in PLACEBO_OFFSETS_MONTHS:
            pre, post = events < -offset, (events >= -offset) & (events < 0)
            if len(np.unique(events[pre])) < PLACEBO_MIN_MONTHS or not post.any():
                continue
            if (observed[:, pre].sum(axis=1) == 0).any() or (observed[:, post].sum(axis=1) == 0).any():
                continue  # a unit without churn on one side has no ratio there
            treated = _synthesize(observed, expected, 0, donors, pre, post)
            placebos = [_synthesize(observed, expected, j, [d for d in donors if d != j], pre, post) for j in donors]
            ratio = self._inference(treated, placebos)
            month = pd.Timestamp(self.change_date) - pd.DateOffset(months=offset)
            out.append({"date": f"{month:%Y-%m}-01", "months_before_change": offset,
                        **{k: ratio[k] for k in ("estimate", "ci_lower", "ci_upper", "p_value")}})
        return out

    def _notes(self, donors: int) -> list[str]:
        notes = [
            self.design_caveat,
            f"With {donors} donors the smallest possible p-value is 1/{donors + 1} ({1 / (donors + 1):.2f}): the "
            "treated group can at best rank first among its own and the donors' placebo runs, so a p-value at that "
            "floor is as strong as the evidence can get here, not proof.",
            f"The interval takes the donors' placebo hazard ratios as the spread of the estimate when nothing "
            f"happened (t with {donors} degrees of freedom), never narrower than the reached group's own churn counts "
            "allow: it is wide with few donors, and assumes the reached group's estimate is as noisy as a donor's.",
        ]
        dropped = self.counts_.get("dropped_donors") or []
        if dropped:
            notes.append("Left out as donors: " + "; ".join(f"{d['unit']} ({d['reason']})" for d in dropped) + ".")
        return notes
