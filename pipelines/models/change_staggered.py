"""Did a support change keep customers, when it reached groups at different dates? Its effect on the monthly churn
hazard under staggered adoption, measured after the fact.

`change_effect` compares the accounts a change reached with the others around one date. When the change reached
groups at different dates (EMEA in March, APAC in September, the rest never), one two-way fixed-effects regression
over all of them (`two_way_fixed_effects_ratio`) goes wrong as soon as the effect changes with time since the
change: it uses groups already reached as the comparison for groups reached later, so an effect still growing in an
early group is subtracted from a later group's. This module builds the answer from clean comparisons instead, in the
manner of Callaway and Sant'Anna (2021):

- A group's first month is the first whole month on or after its date. When the date is not on the 1st, the month it
  falls in is left out for that group (partly before, partly after), as `change_effect` leaves it out.
- For each group g and month t, one comparison of the group with the accounts the change had not reached by t
  (never, or later: the month their date falls in after t and after the base months, and not the group's own first
  month), on the monthly hazard: Poisson with a log link, with a fixed effect for each band of tenure, each month and
  each side, all of them the cell's own. Its coefficient on reached × month t is the log hazard ratio ATT(g, t).
- The overall ratio's cells compare month t with a base of the `leads` whole months before the group's date, not
  with the one month before it (Callaway and Sant'Anna's base). Churn is rare: a group of a thousand accounts has a
  dozen churns a month, and a single base month's count would be shared by every one of the group's months after
  the change, its chance noise moving all of them together; the window averages it out. The window is the months
  the pre-trend test examines, so the test checks the months the estimate leans on.
- The overall log hazard ratio is the average of those cells weighted by each cell's account-months among the
  reached accounts: the average effect over the reached accounts' months after the change, each counted once, which
  is what the accounts kept since the change are computed over. Weights from churns would depend on the outcome they
  weigh (a cell that churned little by chance has a small ratio and would get a small weight, pulling the average
  up); account-months are fixed by who was a customer.
- The event study is Callaway and Sant'Anna's two-by-two with one base month, the group's last whole month before its
  date, for the months before the change as well as after it (their "universal" base; their default "varying" base
  compares each month before the change with the month before it, which makes the months before and after answer
  different questions, Roth 2024). Its cells are averaged by months since the change with the same weights, the
  months before the window pooled with its first month and those after it with its last, so it has the shape
  `change_effect.ChangeEffect`'s has: the month before the change the reference, the months before it at 1 if the
  groups moved in parallel, jointly tested by a Wald test (`pre_trend_p_value_`). The pooled first month carries
  every earlier month, so a drift that built up over the year before a date shows there.
- Every month after a group's change must be comparable: a month with no account left that the change had not
  reached, or without churn on one side, raises and says which (the overall ratio needs every one of them; leaving
  out the months without churn would leave out the months the change did best). The event study leaves out a month
  it cannot compare.

Intervals. The cells share accounts: an account not yet reached is a comparison in many cells, and a reached
account's base months are in all of its group's cells. The errors are clustered by account across cells: each
cell's Poisson score is summed over each account's rows in all the cells, and the covariance of all the ATT(g, t) is
the sandwich of those sums (CRV1, as fixest and pyfixest compute it). Because every fixed effect belongs to one cell,
that is exactly what one `pf.fepois` of all the cells stacked, with cell-specific fixed effects and one term per
cell, clustered by account, gives (the tests check it); computing it from each cell's counts is much faster than
that regression, whose design holds a column per cell over every stacked row. A cluster bootstrap would estimate
the same covariance at the cost of refitting every cell for each draw. The weights are counts of customers, not
estimates, and are taken as fixed: the overall log ratio's variance is w'Vw.

What the estimate rests on: each group's hazard would have moved in parallel with that of the accounts not yet
reached, given tenure, had the change not come; and no group changed before its own date.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyfixest as pf
from scipy import sparse, stats

from .change_effect import (EVENT_LAGS, EVENT_LEADS, MAX_LOG_SE, PLACEBO_OFFSETS_MONTHS, TENURE_BAND_DAYS,
                            TENURE_BANDS, ChangeEffectError, month_index, month_start, ratio_with_interval)

REQUIRED_COLUMNS = ("account_id", "month_start", "tenure_days", "churned", "is_treated", "treated_from", "cohort")
# A group the change never reached is reached after every month there is.
NEVER = np.int64(1) << 40
COMPARISON, REACHED = 0, 1
BANDS = TENURE_BANDS + 1
# Newton's method on a cell's Poisson likelihood stops when no coefficient moves by more than this.
FIT_TOLERANCE = 1e-10
FIT_MAX_ITERATIONS = 100


@dataclass
class _Cell:
    """One group-time comparison: its rows of the panel (positions in the design's rows) with their side and month
    (the base months first, the cell's month last), and their account-months and churns by side, month and band."""

    cohort: str
    date: pd.Timestamp
    month: int
    months_from_change: int
    post: bool
    base: list[int]
    index: np.ndarray
    side: np.ndarray
    position: np.ndarray
    exposure: np.ndarray
    churns: np.ndarray


@dataclass
class _Fitted:
    """A fitted cell: its log hazard ratio, the hazard of each side, month and band, and each of those strata's
    weight in the ratio's influence (a row's influence is its weight times its churn less its hazard)."""

    cell: _Cell
    log_ratio: float
    rate: np.ndarray
    influence: np.ndarray


def _design(panel: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The usable account-months with their group's months, and one row per group the change reached."""
    missing = set(REQUIRED_COLUMNS) - set(panel.columns)
    if missing:
        raise ChangeEffectError(f"the panel lacks {', '.join(sorted(missing))}")
    if panel.empty:
        raise ChangeEffectError("the panel has no account-months")
    dates = pd.DatetimeIndex(panel.treated_from)
    reached = panel.is_treated.astype(bool).to_numpy()
    names = panel.cohort.astype(str).to_numpy()
    disagree = reached != ~dates.isna()
    if disagree.any():
        account = panel.account_id.to_numpy()[np.argmax(disagree)]
        raise ChangeEffectError(f"is_treated and treated_from disagree on {int(disagree.sum())} rows (account "
                                f"{account} first): an account the change reached needs the date it did, one it "
                                "never reached none")
    groups = pd.DataFrame({"cohort": names, "date": dates}).drop_duplicates()
    if groups.cohort.duplicated().any():
        name = groups.cohort[groups.cohort.duplicated()].iloc[0]
        raise ChangeEffectError(f"the group {name} has accounts with different dates of the change (or some reached "
                                "and some not): give each group one date, or split it into groups that have one")
    if len(groups) < 2:
        raise ChangeEffectError(f"every account is in one group ({groups.cohort.iloc[0]}): a difference-in-"
                                "differences needs a group the change reached and accounts it had not reached")
    cohorts = groups[groups.date.notna()].sort_values(["date", "cohort"]).reset_index(drop=True)
    if cohorts.empty:
        raise ChangeEffectError("no group has a date the change reached it")
    code, labels = pd.factorize(pd.Series(names))
    cohorts["code"] = labels.get_indexer(cohorts.cohort)
    stamps = pd.DatetimeIndex(cohorts.date)
    cohorts["touched"] = month_index(stamps)  # the month the date falls in
    cohorts["first"] = cohorts.touched + (stamps.day != 1)  # the first whole month after it
    cohorts["base"] = cohorts.touched - 1  # the last whole month before it

    touched = np.full(len(labels), NEVER)
    first = np.full(len(labels), NEVER)
    touched[cohorts.code] = cohorts.touched
    first[cohorts.code] = cohorts["first"]
    month = month_index(panel.month_start)
    rows = pd.DataFrame({
        "row": np.arange(len(panel)),
        "account": pd.factorize(panel.account_id)[0],
        "month": month,
        "tenure_band": np.minimum(panel.tenure_days.to_numpy() // TENURE_BAND_DAYS, TENURE_BANDS).astype(int),
        "churned": panel.churned.to_numpy(dtype=float),
        "treated": reached,
        "mrr": panel.mrr.to_numpy(dtype=float) if "mrr" in panel.columns else np.nan,
        "group": code,
        "touched": touched[code],
        "first": first[code],
    })
    # the month a date after its first day falls in is partly before the change, partly after: neither side's
    rows = rows[(rows.month != rows.touched) | (rows.month == rows["first"])].reset_index(drop=True)
    rows["event_month"] = np.where(rows.treated, np.where(rows.month >= rows["first"], rows.month - rows["first"],
                                                          rows.month - rows.touched), np.nan)

    first_month, last_month = int(rows.month.min()), int(rows.month.max())
    for cohort in cohorts.itertuples():
        if cohort.base < first_month or cohort.first > last_month:
            raise ChangeEffectError(
                f"the date of {cohort.cohort}, {cohort.date:%Y-%m-%d}, is outside the data "
                f"({_month_name(first_month)} to {_month_name(last_month)}): a group needs a whole month of data "
                "before its change and one after it; leave the group out or give the data that covers it")
    return rows, cohorts


def _month_name(month: int) -> str:
    return f"{month_start(month):%Y-%m}"


def _cells(rows: pd.DataFrame, cohorts: pd.DataFrame, leads: int,
           event_study: bool = True) -> tuple[list[_Cell], list[_Cell]]:
    """Every group's cells: for the overall ratio, each month from its change on against the `leads` months before
    it; for the event study, each of those months and each month before the month before the change, against that
    month. A month after the change the overall ratio cannot compare raises; a month the event study cannot compare
    is left out of it."""
    month = rows.month.to_numpy()
    group = rows.group.to_numpy()
    touched = rows.touched.to_numpy()
    first = rows["first"].to_numpy()
    band = rows.tenure_band.to_numpy()
    churned = rows.churned.to_numpy()
    order = np.argsort(month, kind="stable")
    months_present = np.arange(month.min(), month.max() + 1)
    bounds = np.searchsorted(month[order], np.append(months_present, month.max() + 1))
    in_month = {int(m): order[bounds[i]:bounds[i + 1]] for i, m in enumerate(months_present)}

    def cell(cohort, t: int, base: list[int]) -> _Cell:
        months = base + [t]
        candidates = np.concatenate([in_month[m] for m in months])
        own = group[candidates] == cohort.code
        # not reached by the last of the cell's months, and not at the group's own first month
        comparison = (touched[candidates] > max(months)) & (first[candidates] != cohort.first)
        keep = own | comparison
        index = candidates[keep]
        side = own[keep].astype(int)
        position = np.where(month[index] == t, len(base), np.searchsorted(base, month[index]))
        stratum = (side * len(months) + position) * BANDS + band[index]
        shape = (2, len(months), BANDS)
        exposure = np.bincount(stratum, minlength=np.prod(shape)).reshape(shape).astype(float)
        churns = np.bincount(stratum, weights=churned[index], minlength=np.prod(shape)).reshape(shape)
        post = t >= cohort.first
        return _Cell(cohort.cohort, cohort.date, t, t - cohort.first if post else t - cohort.touched, post, base,
                     index, side, position, exposure, churns)

    overall, events = [], []
    for cohort in cohorts.itertuples():
        after = [int(t) for t in np.unique(month[group == cohort.code]) if t >= cohort.first]
        if not after:
            raise ChangeEffectError(f"{cohort.cohort} has no account-months after its change on "
                                    f"{cohort.date:%Y-%m-%d}")
        window = [m for m in range(cohort.touched - max(leads, 1), cohort.touched) if m in in_month]
        for t in after:
            candidate = cell(cohort, t, window)
            problem = _unusable(candidate)
            if problem:
                raise ChangeEffectError(_cell_message(problem, cohort, t))
            overall.append(candidate)
        if event_study:
            before = [t for t in range(min(in_month), cohort.touched - 1) if t in in_month]
            events += [c for c in (cell(cohort, t, [cohort.base]) for t in before + after) if not _unusable(c)]
    return overall, events


def _unusable(cell: _Cell) -> str | None:
    """Why a cell cannot be compared, or None: each side needs accounts and churn in its month and its base."""
    for side, at_month, whose in ((COMPARISON, True, "accounts still without the change to compare with"),
                                  (COMPARISON, False, "comparison accounts in the months before the change"),
                                  (REACHED, False, "accounts of the group in the months before its change"),
                                  (REACHED, True, "accounts of the group")):
        counts = cell.exposure[side, -1] if at_month else cell.exposure[side, :-1]
        if counts.sum() == 0:
            return f"no {whose}"
        churns = cell.churns[side, -1] if at_month else cell.churns[side, :-1]
        if churns.sum() == 0:
            return f"no churn among the {whose}"
    return None


def _cell_message(problem: str, cohort, t: int) -> str:
    when = f"{_month_name(t)} ({t - cohort.first} months after its change on {cohort.date:%Y-%m-%d})"
    if problem == "no accounts still without the change to compare with":
        return (f"{cohort.cohort} in {when}: {problem}, every other group had it by then. The months after the last "
                "group's change need accounts the change never reached; without them, leave that group out or end "
                "the data before its change.")
    return (f"{cohort.cohort} in {when}: {problem}, so the hazard cannot be compared there. The group may be too "
            "small for a monthly comparison: merge it with a group reached at about the same time.")


def _fit_cell(cell: _Cell) -> _Fitted | None:
    """The cell's Poisson regression on its counts (the same likelihood as on its account-months): churns by side,
    month and band of tenure, with their account-months as exposure, on a fixed effect for each month, the reached
    side, each band and the reached side in the cell's month. Strata of a month or band without churn are left out,
    as fixest leaves out fixed effects whose outcome is all zero. None if the fit does not converge."""
    reached_month = cell.exposure.shape[1] - 1
    band_has = cell.churns.sum(axis=(0, 1)) > 0
    month_has = cell.churns.sum(axis=(0, 2)) > 0
    used = (cell.exposure > 0) & month_has[None, :, None] & band_has[None, None, :]
    side, position, band = np.nonzero(used)
    design = np.column_stack([position[:, None] == np.flatnonzero(month_has)[None, :], side == REACHED,
                              band[:, None] == np.flatnonzero(band_has)[None, 1:],
                              (side == REACHED) & (position == reached_month)]).astype(float)
    churns, offset = cell.churns[used], np.log(cell.exposure[used])
    beta = np.zeros(design.shape[1])
    beta[:int(month_has.sum())] = np.log(churns.sum() / cell.exposure[used].sum())

    def loglik(b: np.ndarray) -> float:
        eta = offset + design @ b
        return float(churns @ eta - np.exp(eta).sum())

    current = loglik(beta)
    try:
        for _ in range(FIT_MAX_ITERATIONS):
            expected = np.exp(offset + design @ beta)
            step = np.linalg.solve(design.T @ (design * expected[:, None]), design.T @ (churns - expected))
            for _ in range(40):  # halve a step that overshoots
                value = loglik(beta + step)
                if value >= current - 1e-12 * abs(current):
                    break
                step = step / 2
            beta, current = beta + step, value
            if np.max(np.abs(step)) < FIT_TOLERANCE:
                break
        else:
            return None
        expected = np.exp(offset + design @ beta)
        unit = np.zeros(design.shape[1])
        unit[-1] = 1.0
        direction = np.linalg.solve(design.T @ (design * expected[:, None]), unit)
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(beta[-1]):
        return None
    rate, influence = np.zeros(cell.exposure.shape), np.zeros(cell.exposure.shape)
    rate[used] = expected / cell.exposure[used]
    influence[used] = design @ direction
    return _Fitted(cell, float(beta[-1]), rate, influence)


def _fit_cells(cells: list[_Cell], required: bool) -> list[_Fitted]:
    fitted = []
    for cell in cells:
        fit = _fit_cell(cell)
        if fit is None and required:
            raise ChangeEffectError(f"the hazard of {cell.cohort} in {_month_name(cell.month)} against the accounts "
                                    "not yet reached cannot be fitted: too few churns on one side")
        if fit is not None:
            fitted.append(fit)
    return fitted


def _covariance(rows: pd.DataFrame, fitted: list[_Fitted]) -> np.ndarray:
    """The covariance of the cells' log hazard ratios, clustered by account across cells: each account's influence
    on each cell, summed over its rows in it, and their cross-products summed over accounts (with fixest's
    G / (G − 1), G the accounts with a row in some cell's fit)."""
    account = rows.account.to_numpy()
    churned = rows.churned.to_numpy()
    band = rows.tenure_band.to_numpy()
    entries, accounts, cells = [], [], []
    clustered = np.zeros(account.max() + 1, dtype=bool)
    for c, fit in enumerate(fitted):
        cell = fit.cell
        where = (cell.side, cell.position, band[cell.index])
        rate = fit.rate[where]
        entries.append(fit.influence[where] * (churned[cell.index] - rate))
        accounts.append(account[cell.index])
        cells.append(np.full(len(cell.index), c))
        clustered[account[cell.index][rate > 0]] = True
    if not fitted:
        return np.zeros((0, 0))
    scores = sparse.csr_matrix((np.concatenate(entries), (np.concatenate(accounts), np.concatenate(cells))),
                               shape=(len(clustered), len(fitted)))
    clusters = int(clustered.sum())
    return np.asarray((scores.T @ scores).todense()) * clusters / (clusters - 1)


def _ratio(log_estimate: float, variance: float, level: float) -> dict:
    return ratio_with_interval(log_estimate, float(np.sqrt(max(variance, 0.0))), level)


def _average(fitted: list[_Fitted], covariance: np.ndarray, level: float) -> dict:
    """The cells' log hazard ratios averaged by the reached account-months of their month."""
    weights = np.array([f.cell.exposure[REACHED, -1].sum() for f in fitted])
    weights /= weights.sum()
    return _ratio(float(weights @ [f.log_ratio for f in fitted]), float(weights @ covariance @ weights), level)


def group_time_rows(panel: pd.DataFrame, leads: int = EVENT_LEADS) -> pd.DataFrame:
    """Every group-time cell's rows, stacked: one row per panel row per cell it is in, with the cell (a number, the
    kind: "overall" for the cells of the overall ratio, "event_study" for the one-base-month cells of the event
    study), its group and month from the change, and the row's account, month, tenure band, churn, side (`reached`)
    and whether it is in the cell's month or its base (`at_month`). The cells' whole input, for checking them against
    another implementation; `StaggeredChangeEffect` fits them."""
    rows, cohorts = _design(panel)
    overall, events = _cells(rows, cohorts, leads)
    frames = []
    for number, (kind, cell) in enumerate([("overall", c) for c in overall] + [("event_study", c) for c in events]):
        picked = rows.iloc[cell.index]
        frames.append(pd.DataFrame({
            "cell": number, "kind": kind, "cohort": cell.cohort, "months_from_change": cell.months_from_change,
            "row": picked.row.to_numpy(), "account": picked.account.to_numpy(), "month": picked.month.to_numpy(),
            "tenure_band": picked.tenure_band.to_numpy(), "churned": picked.churned.to_numpy(),
            "reached": cell.side == REACHED, "at_month": cell.position == len(cell.base)}))
    return pd.concat(frames, ignore_index=True)


def two_way_fixed_effects_ratio(panel: pd.DataFrame, level: float = 0.95) -> dict:
    """The naive answer: one Poisson regression of churn on reached-and-after with fixed effects for tenure band,
    calendar month and group, clustered by account. Biased under staggered adoption when the effect changes with time
    since the change (the groups reached earlier serve as comparisons for those reached later); kept to show that."""
    rows, _ = _design(panel)
    data = rows.assign(reached_after=(rows.treated & (rows.month >= rows["first"])).astype(float))
    with warnings.catch_warnings():  # pyfixest reports fixed effects it drops (all zero); they carry no churn
        warnings.simplefilter("ignore")
        fit = pf.fepois("churned ~ reached_after | tenure_band + month + group", data=data, vcov={"CRV1": "account"})
    names = list(fit.coef().index)
    variance = float(np.asarray(fit._vcov)[names.index("reached_after")][names.index("reached_after")])
    return _ratio(float(fit.coef()["reached_after"]), variance, level)


@dataclass
class StaggeredChangeEffect:
    """Difference-in-differences of a change that reached groups at different dates, one clean comparison per group
    and month (see the module's docstring).

    fit(panel) takes an account-month panel with account_id, month_start, tenure_days, churned, mrr, is_treated,
    treated_from (the date the change reached the account's group; NaT: never) and cohort (the group's name).
    Learned, named as `change_effect.ChangeEffect` names them: hazard_ratio_ {estimate, ci_lower, ci_upper,
    log_estimate, log_se, p_value}, event_study_ (one row per month from the change, the month before it the
    reference), pre_trend_p_value_, placebos_ (every group's date moved back, on the months before the change),
    counts_, notes_ (what the estimate is, in words) and rows_ (the usable panel rows, with each account's months
    from its own group's change); and group_time_ (one row per group and month: those after the change the overall
    ratio averages, those before it the event study's).
    """

    leads: int = EVENT_LEADS
    lags: int = EVENT_LAGS
    level: float = 0.95
    placebo_offsets: tuple[int, ...] = PLACEBO_OFFSETS_MONTHS
    hazard_ratio_: dict = field(default_factory=dict, init=False)
    event_study_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)
    pre_trend_p_value_: float | None = field(default=None, init=False)
    placebos_: list[dict] = field(default_factory=list, init=False)
    counts_: dict = field(default_factory=dict, init=False)
    group_time_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)
    rows_: pd.DataFrame = field(default_factory=pd.DataFrame, init=False)
    notes_: list[str] = field(default_factory=list, init=False)

    def fit(self, panel: pd.DataFrame) -> StaggeredChangeEffect:
        rows, cohorts = _design(panel)
        overall_cells, event_cells = _cells(rows, cohorts, self.leads)
        overall = _fit_cells(overall_cells, required=True)
        events = _fit_cells(event_cells, required=False)
        overall_covariance, event_covariance = _covariance(rows, overall), _covariance(rows, events)
        self.hazard_ratio_ = _average(overall, overall_covariance, self.level)
        self.event_study_, self.pre_trend_p_value_ = self._event_study(events, event_covariance)
        leading = [i for i, f in enumerate(events) if f.cell.months_from_change < -1]
        self.group_time_ = pd.concat([self._group_time(overall, overall_covariance),
                                      self._group_time([events[i] for i in leading],
                                                       event_covariance[np.ix_(leading, leading)])],
                                     ignore_index=True).sort_values(["date", "cohort", "month"], ignore_index=True)
        self.counts_ = self._counts(rows, cohorts, overall)
        self.rows_ = rows[["row", "account", "month", "event_month", "treated", "churned", "mrr"]].copy()
        self.placebos_ = self._placebos(panel, rows)
        self.notes_ = self._notes(cohorts)
        return self

    def _group_time(self, fitted: list[_Fitted], covariance: np.ndarray) -> pd.DataFrame:
        out = []
        for fit, variance in zip(fitted, np.diag(covariance)):
            cell = fit.cell
            ratio = _ratio(fit.log_ratio, variance, self.level)
            base = _month_name(cell.base[0]) + (f" to {_month_name(cell.base[-1])}" if len(cell.base) > 1 else "")
            out.append({"cohort": cell.cohort, "date": cell.date, "month": month_start(cell.month),
                        "months_from_change": cell.months_from_change,
                        **{k: ratio[k] for k in ("estimate", "ci_lower", "ci_upper", "log_estimate", "log_se")},
                        "treated_account_months": int(cell.exposure[REACHED, -1].sum()),
                        "churns": int(cell.churns[REACHED, -1].sum()),
                        "comparison_account_months": int(cell.exposure[COMPARISON, -1].sum()), "base_months": base})
        return pd.DataFrame(out)

    def _event_study(self, fitted: list[_Fitted], covariance: np.ndarray) -> tuple[pd.DataFrame, float | None]:
        """Each month from the change, its cells averaged by their reached account-months; those after the window
        pooled with its last month, as `change_effect` pools them. A month whose ratio has no information (the
        standard error of `change_effect.MAX_LOG_SE`) is left out, of the table and of the pre-trend test."""
        columns = ["months_from_change", "estimate", "ci_lower", "ci_upper"]
        if not fitted:
            return pd.DataFrame(columns=columns), None
        binned = np.clip([f.cell.months_from_change for f in fitted], -self.leads, self.lags)
        exposure = np.array([f.cell.exposure[REACHED, -1].sum() for f in fitted])
        months = [int(k) for k in np.unique(binned)]
        weights = np.array([np.where(binned == k, exposure, 0.0) for k in months])
        weights /= weights.sum(axis=1, keepdims=True)
        estimates = weights @ np.array([f.log_ratio for f in fitted])
        spread = weights @ covariance @ weights.T
        shown = [i for i, k in enumerate(months) if np.sqrt(spread[i, i]) < MAX_LOG_SE]
        table = pd.DataFrame([{"months_from_change": months[i],
                               **{k: v for k, v in _ratio(estimates[i], spread[i, i], self.level).items()
                                  if k in columns}} for i in shown], columns=columns)
        leads = [i for i in shown if months[i] < -1]
        if not leads:
            return table, None
        b, v = estimates[leads], spread[np.ix_(leads, leads)]
        wald = float(b @ np.linalg.solve(v, b))
        return table, float(stats.chi2.sf(wald, len(leads)))

    def _counts(self, rows: pd.DataFrame, cohorts: pd.DataFrame, overall: list[_Fitted]) -> dict:
        after = rows.treated & (rows.event_month >= 0)
        account = rows.account.to_numpy()
        compared = np.concatenate([f.cell.index[f.cell.side == COMPARISON] for f in overall])
        per_cohort = []
        for c in cohorts.itertuples():
            own = rows.group == c.code
            per_cohort.append({"cohort": c.cohort, "date": f"{c.date:%Y-%m-%d}", "first_month": _month_name(c.first),
                               "accounts": int(rows.account[own].nunique()),
                               "churns_before": int(rows.churned[own & (rows.event_month < 0)].sum()),
                               "churns_after": int(rows.churned[own & (rows.event_month >= 0)].sum())})
        return {
            "treated_accounts": int(rows.account[rows.treated].nunique()),
            "comparison_accounts": int(np.unique(account[compared]).size),
            "never_treated_accounts": int(rows.account[~rows.treated].nunique()),
            "cohorts": per_cohort,
            "churns_treated_before": int(rows.churned[rows.treated & ~after].sum()),
            "churns_treated_after": int(rows.churned[after].sum()),
            "churns_never_treated": int(rows.churned[~rows.treated].sum()),
            "group_months": len(overall),
        }

    def _notes(self, cohorts: pd.DataFrame) -> list[str]:
        notes = [
            "Group-time difference-in-differences of the monthly churn hazard (Callaway and Sant'Anna): each group's "
            "months after its change against the accounts the change had not reached by then (never, or later), "
            f"each against the {self.leads} months before the group's date, tenure bands held fixed, errors clustered "
            "by account across the comparisons. The hazard ratio averages those months, each weighted by the "
            "reached accounts' months in it. Groups reached earlier never serve as the comparison, so an effect that "
            "grows or fades after the change does not bias it.",
        ]
        notes += [f"The month of {c.date:%d %B %Y} is left out for {c.cohort}: it is partly before its change."
                  for c in cohorts.itertuples() if c.date.day != 1]
        if len(self.placebos_) < len(self.placebo_offsets):
            notes.append("Not every placebo date could be tested: each needs the months before its own dates in the "
                         "data, and churn in every month it compares.")
        return notes

    def _placebos(self, panel: pd.DataFrame, rows: pd.DataFrame) -> list[dict]:
        """The overall ratio again with every group's date moved back, on the months before each group's own change
        (and all of the never-reached accounts'): a change that did nothing then should find a ratio near 1. An
        offset the data cannot carry (a date moved out of the data, a month without churn) is left out."""
        before = rows.row[~rows.treated | (rows.event_month < 0)].to_numpy()
        out = []
        for offset in self.placebo_offsets:
            moved = panel.iloc[before].assign(
                treated_from=pd.DatetimeIndex(panel.treated_from.iloc[before]) - pd.DateOffset(months=offset))
            try:
                placebo_rows, placebo_cohorts = _design(moved)
                overall = _fit_cells(_cells(placebo_rows, placebo_cohorts, self.leads, event_study=False)[0], True)
            except ChangeEffectError:
                continue
            ratio = _average(overall, _covariance(placebo_rows, overall), self.level)
            dates = {c.cohort: f"{c.date:%Y-%m-%d}" for c in placebo_cohorts.itertuples()}
            out.append({"date": min(dates.values()), "dates": dates, "months_before_change": offset,
                        **{k: ratio[k] for k in ("estimate", "ci_lower", "ci_upper", "p_value")}})
        return out
