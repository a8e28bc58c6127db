"""Kaplan-Meier survival of accounts, overall or by segment: curves, medians, RMST, log-rank, revenue.

Owns the `retention km` command and the `KaplanMeier` model it runs. Time is `duration_days` of
`account_survival` (days since signup); an account still active at the build's as-of date is
right-censored there. DuckDB does the one pass over the accounts (events and censorings per group
per day, `sql/queries/km_event_counts.sql`); numpy does the product-limit, Greenwood, log-rank and
RMST sums over those counts (cumulative sums, no loop over times).

Every estimate follows lifelines' definitions, so the tests can compare to it directly:
- survival and its 95% CI: `KaplanMeierFitter.survival_function_` and `confidence_interval_`
  (Greenwood's variance on the log(-log) scale, the time-0 row included, a CI of (1, 1) where S = 1);
- median and its CI: `median_survival_time_` and `median_survival_times(confidence_interval_)`
  (inf when the curve never falls to 0.5);
- log-rank: `logrank_test` for two groups, `multivariate_logrank_test` for more;
- RMST: `restricted_mean_survival_time(kmf, t)` for the point estimate. Its variance is the standard
  Greenwood-type formula sum_{t_i < tau} A_i^2 d_i / (n_i (n_i - d_i)), A_i the area under the curve
  from t_i to tau (lifelines' own RMST variance has a reported bug, so it is not the reference).

Grouping (`by`): a categorical segment, `signup_cohort_month` or `signup_year` gives one group per
value; a numeric segment (or `mrr`) gives one group per value when it has at most 4 distinct values,
otherwise quartiles with cut points at observed values (a value equal to a cut point goes to the lower
quartile, so ties never split). Accounts with no value form the group "(missing)".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy import special, stats

from ..errors import RetentionError
from ..settings import KM_MAX_GROUPS
from ..filters import (
    FilterableColumn,
    FilterError,
    filter_predicate,
    filterable_columns,
    parse_filters,
    quartile_bucket,
    resolve_column,
)
from .jsonable import json_ready
from ..sqlrun import TrustedSql, execute_template, query_text

HORIZONS_DAYS = (90, 180, 365, 730)
RMST_HORIZONS_DAYS = (365, 730)
# A numeric column with this many distinct values or fewer is grouped by value, not by quartile.
MAX_LEVELS_BY_VALUE = 4
MISSING_LABEL = "(missing)"
OVERALL_LABEL = "all"
# every build has them; a database without one is no build (readers check the schema version first, the library
# names what is missing)
REQUIRED_TABLES = ("account_survival", "segment_columns", "km_segment_counts", "build_info")

CURVE_COLUMNS = ["group", "time_days", "survival", "ci_lower", "ci_upper", "at_risk", "events", "censored"]
REVENUE_COLUMNS = ["group", "time_days", "revenue_retained_share", "mrr_at_risk", "mrr_churned", "mrr_censored"]


class SurvivalInputError(RetentionError, ValueError):
    """The survival question cannot be answered as asked; the message names the column or filter."""


@dataclass
class GroupCounts:
    """Accounts leaving the risk set per day in one group (what km_event_counts.sql returns per group)."""

    label: str
    time_days: np.ndarray  # unique, increasing
    n_removed: np.ndarray  # churned + censored that day
    n_events: np.ndarray  # churned that day
    mrr_removed: np.ndarray  # summed MRR of those with one
    mrr_events: np.ndarray
    n_mrr_missing: int


# --------------------------------------------------------------------------------------------
# The estimators, on per-day counts. Pure numpy: the DuckDB path, the pandas path and the
# bootstrap in the tests all end here.
# --------------------------------------------------------------------------------------------


def _with_time_zero(time_days: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Prepend a time-0 row with nothing removed, as lifelines' event table does, unless 0 is there."""
    time_days = np.asarray(time_days, dtype=np.int64)
    if len(time_days) and time_days[0] == 0:
        return (time_days, *[np.asarray(c) for c in columns])
    return (
        np.concatenate(([0], time_days)),
        *[np.concatenate(([0], np.asarray(c))).astype(np.asarray(c).dtype) for c in columns],
    )


def product_limit(time_days, n_removed, n_events, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Kaplan-Meier curve with Greenwood log(-log) CI, exactly as lifelines' KaplanMeierFitter."""
    time_days, n_removed, n_events = _with_time_zero(time_days, n_removed, n_events)
    n_removed = n_removed.astype(np.int64)
    n_events = n_events.astype(np.int64)
    # at risk at t: everyone minus those removed strictly before t (reverse cumsum keeps it exact)
    at_risk = np.cumsum(n_removed[::-1])[::-1]
    population = at_risk.astype(float)
    deaths = n_events.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_survival = np.cumsum(np.log(population - deaths) - np.log(population))
        survival = np.exp(log_survival)
        # lifelines sets the term to 0 when everyone at risk dies (d / 0 = inf)
        greenwood = np.cumsum(np.where(population > deaths, deaths / (population * (population - deaths)), 0.0))
        z = special.ndtri(1 - alpha / 2)  # stats.norm.ppf without its argument checks (20x the cost)
        v = np.log(survival)
        lower = np.exp(-np.exp(np.log(-v) - z * np.sqrt(greenwood) / v))
        upper = np.exp(-np.exp(np.log(-v) + z * np.sqrt(greenwood) / v))
    # where S = 1, log(-log S) is undefined; lifelines fills the bounds with 1
    lower = np.where(np.isnan(lower), 1.0, lower)
    upper = np.where(np.isnan(upper), 1.0, upper)
    return {
        "time_days": time_days,
        "survival": survival,
        "ci_lower": lower,
        "ci_upper": upper,
        "at_risk": at_risk,
        "events": n_events,
        "censored": n_removed - n_events,
        "greenwood_variance_sum": greenwood,
    }


def first_time_at_or_below(time_days: np.ndarray, curve: np.ndarray, q: float = 0.5) -> float:
    """First time the curve is <= q (lifelines' qth_survival_time); inf if it never gets there."""
    if curve[-1] > q:
        return math.inf
    return float(time_days[np.searchsorted(-curve, -q, side="left")])


def value_at(time_days: np.ndarray, values: np.ndarray, horizons) -> np.ndarray:
    """The step function at each horizon; NaN past the last observed time (nothing is known there)."""
    horizons = np.asarray(horizons, dtype=float)
    index = np.searchsorted(time_days, horizons, side="right") - 1
    out = np.asarray(values, dtype=float)[np.clip(index, 0, None)]
    return np.where((horizons > time_days[-1]) | (index < 0), np.nan, out)


def restricted_mean(time_days, survival, at_risk, events, tau: float) -> tuple[float, float]:
    """RMST up to tau (area under the KM step curve) and its Greenwood-type variance.

    Var = sum over event times t_i < tau of A_i^2 d_i / (n_i (n_i - d_i)), A_i = area from t_i to tau.
    Past the last observed time the curve is unknown, so tau beyond it gives NaN unless S already hit 0.
    """
    t = np.asarray(time_days, dtype=float)
    s = np.asarray(survival, dtype=float)
    if tau > t[-1] and s[-1] > 0:
        return math.nan, math.nan
    right = np.minimum(np.append(t[1:], np.inf), tau)
    width = np.clip(right - t, 0.0, None)
    pieces = s * width
    rmst = float(pieces.sum())
    area_before = np.cumsum(pieces) - pieces  # area from 0 to t_i
    area_after = rmst - area_before  # A_i
    n = np.asarray(at_risk, dtype=float)
    d = np.asarray(events, dtype=float)
    use = (t < tau) & (d > 0) & (n > d)
    variance = float(np.sum(area_after[use] ** 2 * d[use] / (n[use] * (n[use] - d[use]))))
    return rmst, variance


def revenue_product_limit(time_days, mrr_removed, mrr_events) -> dict[str, np.ndarray]:
    """Share of starting MRR retained: product-limit with each account weighted by its MRR.

    Weighted at risk W(t) = MRR of accounts still at risk at t; weighted events = MRR churned at t;
    retained share = prod (1 - churned / W). Without censoring it is simply retained MRR / starting MRR.
    """
    time_days, mrr_removed, mrr_events = _with_time_zero(
        time_days, np.asarray(mrr_removed, dtype=float), np.asarray(mrr_events, dtype=float)
    )
    at_risk = np.cumsum(mrr_removed[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, mrr_events / at_risk, 0.0)
    # the two sums may differ in the last bit when everything left churns; a share is within [0, 1]
    share = np.cumprod(np.clip(1.0 - hazard, 0.0, 1.0))
    if not at_risk[0] > 0:
        share = np.full_like(share, np.nan)
    return {
        "time_days": time_days,
        "revenue_retained_share": share,
        "mrr_at_risk": at_risk,
        "mrr_churned": mrr_events,
        "mrr_censored": mrr_removed - mrr_events,
    }


def logrank(groups: list[GroupCounts]) -> dict:
    """Log-rank test across groups, as lifelines' multivariate_logrank_test (logrank_test for two).

    Observed minus expected events per group, the hypergeometric covariance with the ties
    correction, and the quadratic form on all groups but the last, chi-square with k - 1 df.
    """
    k = len(groups)
    timeline = np.sort(np.concatenate([g.time_days for g in groups]))
    timeline = timeline[np.r_[True, timeline[1:] != timeline[:-1]]]  # np.unique's result, without its hashing
    removed = np.zeros((len(timeline), k))
    events = np.zeros((len(timeline), k))
    for j, g in enumerate(groups):
        rows = np.searchsorted(timeline, g.time_days)
        removed[rows, j] = g.n_removed
        events[rows, j] = g.n_events
    at_risk_j = np.cumsum(removed[::-1], axis=0)[::-1]
    at_risk = at_risk_j.sum(axis=1)
    deaths = events.sum(axis=1)
    expected = at_risk_j * (deaths / at_risk)[:, None]
    observed_minus_expected = events.sum(axis=0) - expected.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ties = (at_risk - deaths) / (at_risk - 1)
    ties = np.where(np.isfinite(ties), ties, 1.0)
    factor = ties * deaths / at_risk**2
    weighted = at_risk_j * np.sqrt(factor)[:, None]
    covariance = -(weighted.T @ weighted)
    covariance[np.diag_indices(k)] += (at_risk_j * (at_risk * factor)[:, None]).sum(axis=0)
    z = observed_minus_expected[:-1]
    statistic = float(z @ np.linalg.pinv(covariance[:-1, :-1]) @ z)
    return {
        "test": "logrank_test" if k == 2 else "multivariate_logrank_test",
        "n_groups": k,
        "test_statistic": statistic,
        "degrees_of_freedom": k - 1,
        "p_value": float(stats.chi2.sf(statistic, k - 1)),
        "observed_events": dict(zip([g.label for g in groups], events.sum(axis=0).astype(int).tolist())),
        "expected_events": dict(zip([g.label for g in groups], expected.sum(axis=0).tolist())),
    }


def counts_from_frame(frame: pd.DataFrame, group_column: str | None = None) -> pd.DataFrame:
    """The km_event_counts.sql aggregation done in pandas (an independent path, for checks and notebooks).

    `frame` has duration_days, churned (0/1), mrr (may be missing) and optionally `group_column`.
    """
    data = pd.DataFrame(
        {
            "group_value": frame[group_column] if group_column else OVERALL_LABEL,
            "time_days": frame["duration_days"].astype("int64"),
            "churned": frame["churned"].astype("int64"),
            "mrr": frame["mrr"].astype(float) if "mrr" in frame else np.nan,
        }
    )
    data["mrr_churned"] = data["mrr"].where(data["churned"] == 1)
    data["mrr_is_missing"] = data["mrr"].isna().astype("int64")
    counts = (
        data.groupby(["group_value", "time_days"], dropna=False, sort=True)
        .agg(
            n_removed=("churned", "size"),
            n_events=("churned", "sum"),
            mrr_removed=("mrr", "sum"),
            mrr_events=("mrr_churned", "sum"),
            n_mrr_missing=("mrr_is_missing", "sum"),
        )
        .reset_index()
    )
    return counts


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@dataclass
class Grouping:
    """How accounts are split into groups: the grouping's description, the SQL of an account's group value and its
    bound parameters, and the label of a group value."""

    description: str
    value_sql: TrustedSql
    params: dict
    label: Callable[[Any], str]  # raw group value (a str, number, date or numpy scalar from DuckDB) -> label


def _overall_grouping() -> Grouping:
    return Grouping("overall", TrustedSql(f"'{OVERALL_LABEL}'"), {}, lambda value: OVERALL_LABEL)


def account_grouping(con: duckdb.DuckDBPyConnection, by: str | None, columns: dict[str, FilterableColumn],
                     predicate: TrustedSql, params: dict) -> Grouping:
    """The groups of `--by` over the filtered accounts (the module docstring's rules): the SQL of each account's group
    value, its bound parameters and how a value reads. Every estimator by segment groups through here, so `km` and
    `km --by-cause` split the accounts alike."""
    if by is None:
        return _overall_grouping()
    column = resolve_column(by, columns, role="--by column")
    if column.kind == "date":
        return Grouping(f"{column.name} (by month)", column.sql, {}, _label_month)
    if column.kind == "year":
        return Grouping(f"{column.name} (by year)", column.sql, {}, _label_plain)
    if column.kind == "categorical":
        return Grouping(f"{column.name} (by value)", column.sql, {}, _label_plain)
    cut_points, n_distinct = execute_template(
        con, "km_numeric_cut_points", params, group_column=column.sql, filter_predicate=predicate
    ).fetchone()
    if n_distinct <= MAX_LEVELS_BY_VALUE or cut_points is None:
        return Grouping(f"{column.name} (by value)", column.sql, {}, _label_plain)
    c1, c2, c3 = (float(c) for c in cut_points)
    labels = {
        1: f"Q1 (<= {c1:g})",
        2: f"Q2 ({c1:g}, {c2:g}]",
        3: f"Q3 ({c2:g}, {c3:g}]",
        4: f"Q4 (> {c3:g})",
    }
    return Grouping(
        f"{column.name} (by quartile; cut points {c1:g}, {c2:g}, {c3:g})",
        quartile_bucket(column),
        {"cut_1": c1, "cut_2": c2, "cut_3": c3},
        lambda value: MISSING_LABEL if _is_missing(value) else labels[int(value)],
    )


@dataclass(frozen=True)
class EventCounts:
    """An estimator's per-group, per-day counts read from account_survival, with the filters and grouping that made
    them and the build's as-of date."""

    counts: Any  # the query's columns by name: DuckDB's arrays, or a DataFrame
    filters: list
    grouping: Grouping
    as_of: date | None


def read_event_counts(con: duckdb.DuckDBPyConnection, by: str | None, filter_texts, query: str,
                      error: type[RetentionError], params: dict | None = None, as_frame: bool = False) -> EventCounts:
    """Run a counting query (km_event_counts, cause_event_counts) over the filtered accounts, grouped by `by` as
    account_grouping groups them. Every estimator by segment reads through here, so each refuses the same things
    alike: a filter or grouping column that cannot be used (as `error`), a database without the tables (named), a
    selection with no accounts (no_accounts_error)."""
    try:
        columns = filterable_columns(con)
        filters = parse_filters(list(filter_texts), columns)
        predicate, filter_params = filter_predicate(filters)
        grouping = account_grouping(con, by, columns, predicate, filter_params)
        result = execute_template(con, query, {**filter_params, **grouping.params, **(params or {})},
                                  group_value=grouping.value_sql, filter_predicate=predicate)
        counts = result.df() if as_frame else result.fetchnumpy()
        as_of = build_as_of(con)
    except FilterError as exc:
        raise error(str(exc)) from exc
    except duckdb.CatalogException:
        # the tables are looked up only once a query has failed: the lookup costs as much as the estimates
        require_tables(con)
        raise
    if len(counts["time_days"]) == 0:
        raise no_accounts_error(con, filters)
    return EventCounts(counts, filters, grouping, as_of)


class KaplanMeier:
    """Kaplan-Meier survival of accounts, overall or per level of one column, with optional filters.

    Configure here, then `fit(con)` on a (read-only is enough) connection to a built database.
    Learned attributes: curves_, summary_, revenue_curves_, rmst_, rmst_differences_, logrank_,
    groups_, reference_group_, as_of_, n_accounts_, filters_, grouping_, counts_source_ ("stored": the
    build's counts were read; "aggregated": the accounts were counted now).
    """

    def __init__(
        self,
        by: str | None = None,
        filters: list[str] | tuple[str, ...] | None = None,
        reference: str | None = None,
        alpha: float = 0.05,
        horizons_days: tuple[int, ...] = HORIZONS_DAYS,
        rmst_horizons_days: tuple[int, ...] = RMST_HORIZONS_DAYS,
        use_stored_counts: bool = True,
    ):
        """`use_stored_counts=False` always aggregates the accounts, even where the build stored the counts
        (the tests compare the two paths)."""
        if not 0 < alpha < 1:
            raise SurvivalInputError(f"alpha must be between 0 and 1, got {alpha}")
        self.by = by
        self.filters = list(filters or [])
        self.reference = reference
        self.alpha = alpha
        self.horizons_days = tuple(int(h) for h in horizons_days)
        self.rmst_horizons_days = tuple(int(h) for h in rmst_horizons_days)
        self.use_stored_counts = use_stored_counts

    # ---- fitting -------------------------------------------------------------------------

    def fit(self, con: duckdb.DuckDBPyConnection) -> "KaplanMeier":
        """Aggregate the accounts in DuckDB (read only) and estimate everything from the counts.

        Without filters, grouped by nothing or by a categorical segment, the counts are the ones the build
        stored (`km_segment_counts`): the same numbers as the aggregation, read instead of computed. Any filter
        (a csm's scope is one) aggregates the filtered accounts, so stored counts never cross a scope.
        """
        if self.use_stored_counts and not self.filters:
            stored = self._stored_groups(con)
            if stored is not None:
                groups, description, as_of = stored
                self.counts_source_ = "stored"
                self.as_of_: date | None = as_of
                self.filters_ = []
                self.grouping_ = description
                return self._fit_groups(groups)
        self.counts_source_ = "aggregated"
        # arrays straight to the estimators: no DataFrame of the counts in between
        read = read_event_counts(con, self.by, self.filters, "km_event_counts", SurvivalInputError)
        self.as_of_ = read.as_of
        self.filters_ = [f.as_dict() for f in read.filters]
        self.grouping_ = read.grouping.description
        return self._fit_counts(read.counts, read.grouping.label)

    def _stored_groups(self, con) -> tuple[list[GroupCounts], str, date] | None:
        """The build's per-day counts of every account for this grouping, one GroupCounts per group in
        `_split_groups`' order, with the grouping's description and the as-of date; None where it stored none (a
        numeric, date or year grouping, a name that is not exactly a categorical segment's, a build with no
        accounts): the caller then counts the accounts.

        Looked up by the exact name, before the allow-list is read: the table holds only categorical segments
        under their own names, and an exact name resolves to that segment (`resolve_column`), so the groups and
        labels are the ones account_grouping would give."""
        try:
            rows = con.execute(query_text("km_stored_counts"), {"segment_column": self.by}).fetchnumpy()
        except duckdb.CatalogException:
            require_tables(con)
            raise
        if not len(rows["group_value"]):
            return None
        label = _overall_grouping().label if self.by is None else _label_plain
        missing = np.ma.getmaskarray(rows["group_value"])
        values = np.ma.getdata(rows["group_value"])
        # the values' order (Python compares strings by code point, as _split_groups sorts them), missing last
        order = sorted(range(len(values)), key=lambda i: (bool(missing[i]), "" if missing[i] else values[i]))
        groups = [
            GroupCounts(
                label=label(None if missing[i] else values[i]),
                time_days=rows["time_days"][i].astype(np.int64, copy=False),
                n_removed=rows["n_removed"][i].astype(np.int64, copy=False),
                n_events=rows["n_events"][i].astype(np.int64, copy=False),
                mrr_removed=rows["mrr_removed"][i].astype(float),
                mrr_events=rows["mrr_events"][i].astype(float),
                n_mrr_missing=int(rows["n_mrr_missing"][i]),
            )
            for i in order
        ]
        as_of = rows["as_of_date"][0].astype("datetime64[D]").item()
        return groups, "overall" if self.by is None else f"{self.by} (by value)", as_of

    def fit_frame(self, frame: pd.DataFrame, as_of: date | None = None) -> "KaplanMeier":
        """Fit from a DataFrame shaped like account_survival (grouped by `by` as-is, no filters)."""
        if self.filters:
            raise SurvivalInputError("fit_frame takes no filters; filter the DataFrame first")
        for column in ["duration_days", "churned"] + ([self.by] if self.by else []):
            if column not in frame.columns:
                raise SurvivalInputError(f"column {column!r} is not in the DataFrame; it has {list(frame.columns)}")
        if frame.empty:
            raise SurvivalInputError("the DataFrame has no rows")
        self.as_of_ = as_of
        self.filters_ = []
        self.grouping_ = f"{self.by} (by value)" if self.by else "overall"
        return self._fit_counts(counts_from_frame(frame, self.by), _label_plain)

    def _fit_counts(self, counts, label) -> "KaplanMeier":
        """counts: km_event_counts' columns by name (a DataFrame, or DuckDB's arrays, masked where NULL)."""
        return self._fit_groups(_split_groups(counts, label))

    def _fit_groups(self, groups: list[GroupCounts]) -> "KaplanMeier":
        if len(groups) > KM_MAX_GROUPS:
            raise SurvivalInputError(
                f"--by {self.by} gives {len(groups)} groups (more than {KM_MAX_GROUPS}); "
                "choose a column with fewer levels or add a --filter"
            )
        labels = [g.label for g in groups]
        reference = labels[0]
        if self.reference is not None:
            if self.reference not in labels:
                raise SurvivalInputError(f"reference group {self.reference!r} is not among the groups: {labels}")
            reference = self.reference
        self.groups_ = labels
        self.reference_group_ = reference
        self.n_accounts_ = int(sum(g.n_removed.sum() for g in groups))

        curves, revenue, summaries, rmst_rows = [], [], [], []
        for g in groups:
            curve = product_limit(g.time_days, g.n_removed, g.n_events, self.alpha)
            money = revenue_product_limit(g.time_days, g.mrr_removed, g.mrr_events)
            curves.append(curve)
            revenue.append(money)
            summaries.append(self._summary_row(g, curve, money))
            for tau in self.rmst_horizons_days:
                rmst, variance = restricted_mean(curve["time_days"], curve["survival"], curve["at_risk"],
                                                 curve["events"], tau)
                rmst_rows.append((g.label, tau, rmst, variance))

        self.curves_ = _stack(labels, curves, CURVE_COLUMNS)
        self.revenue_curves_ = _stack(labels, revenue, REVENUE_COLUMNS)
        # from columns rather than records: records cost pandas a pass per row and key
        self.summary_ = pd.DataFrame({key: [row[key] for row in summaries] for key in summaries[0]}, copy=False)
        self.rmst_, self.rmst_differences_ = self._rmst_tables(rmst_rows, reference)
        self.logrank_ = logrank(groups) if len(groups) >= 2 else None
        return self

    def _summary_row(self, g: GroupCounts, curve: dict, money: dict) -> dict:
        t = curve["time_days"]
        row = {
            "group": g.label,
            "n_accounts": int(g.n_removed.sum()),
            "n_churned": int(g.n_events.sum()),
            "n_censored": int(g.n_removed.sum() - g.n_events.sum()),
            "median_survival_days": first_time_at_or_below(t, curve["survival"]),
            "median_ci_lower_days": first_time_at_or_below(t, curve["ci_lower"]),
            "median_ci_upper_days": first_time_at_or_below(t, curve["ci_upper"]),
            "last_observed_days": int(t[-1]),
        }
        for name in ("survival", "ci_lower", "ci_upper"):
            for h, value in zip(self.horizons_days, value_at(t, curve[name], self.horizons_days)):
                suffix = "" if name == "survival" else "_" + name
                row[f"survival_{h}d{suffix}"] = float(value)
        row["mrr_at_start"] = float(money["mrr_at_risk"][0])
        row["n_accounts_mrr_missing"] = int(g.n_mrr_missing)
        for h, value in zip(self.horizons_days, value_at(t, money["revenue_retained_share"], self.horizons_days)):
            row[f"revenue_retained_share_{h}d"] = float(value)
        return row

    def _rmst_tables(self, rows: list[tuple], reference: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        z = special.ndtri(1 - self.alpha / 2)
        if not rows:  # no RMST horizons asked for
            return (pd.DataFrame(columns=["group", "tau_days", "rmst_days", "se_days", "ci_lower_days", "ci_upper_days"]),
                    pd.DataFrame(columns=["group", "reference_group", "tau_days", "difference_days", "se_days",
                                          "ci_lower_days", "ci_upper_days", "p_value"]))
        group, tau, estimate, variance = (np.array(column) for column in zip(*rows))
        se = np.sqrt(variance)
        rmst = pd.DataFrame(
            {
                "group": group,
                "tau_days": tau.astype(np.int64),
                "rmst_days": estimate,
                "se_days": se,
                "ci_lower_days": estimate - z * se,
                "ci_upper_days": estimate + z * se,
            }
        )
        is_reference = group == reference
        others = ~is_reference
        # rows come group by group with the same taus, so the reference rows line up with each group's
        n_taus = len(self.rmst_horizons_days)
        repeats = int(others.sum()) // n_taus
        ref_estimate = np.tile(estimate[is_reference], repeats)
        ref_variance = np.tile(variance[is_reference], repeats)
        difference = estimate[others] - ref_estimate
        # independent groups: the variances add
        diff_se = np.sqrt(variance[others] + ref_variance)
        with np.errstate(divide="ignore", invalid="ignore"):
            p_value = np.where(diff_se > 0, 2 * special.ndtr(-np.abs(difference / diff_se)), np.nan)
        differences = pd.DataFrame(
            {
                "group": group[others],
                "reference_group": reference,
                "tau_days": tau[others].astype(np.int64),
                "difference_days": difference,
                "se_days": diff_se,
                "ci_lower_days": difference - z * diff_se,
                "ci_upper_days": difference + z * diff_se,
                "p_value": p_value,
            }
        )
        return rmst, differences

    # ---- output --------------------------------------------------------------------------

    def notes(self) -> list[str]:
        notes = [
            "Association, not causation: groups can differ in more than the grouping column.",
            (f"Accounts still active at the as-of date {self.as_of_} are censored there."
             if self.as_of_ else "Accounts still active at the as-of date are censored there."),
        ]
        missing = int(self.summary_["n_accounts_mrr_missing"].sum())
        if missing:
            notes.append(f"{missing:,} accounts without an MRR are left out of the revenue curve.")
        if np.isinf(self.summary_["median_survival_days"]).any():
            notes.append("A median 'not reached' (null in JSON) means survival stayed above 50% over the observed time.")
        if self.rmst_["rmst_days"].isna().any():
            notes.append("RMST is not given for a horizon past a group's last observed day.")
        return notes

    def to_json_dict(self) -> dict:
        """Everything the model learned, as plain JSON values (NaN and infinity become null)."""
        return json_ready(
            {
                "model": "kaplan_meier",
                "as_of": self.as_of_,
                "by": self.by,
                "grouping": self.grouping_,
                "filters": self.filters_,
                "n_accounts": self.n_accounts_,
                "confidence_level": 1 - self.alpha,
                "horizons_days": list(self.horizons_days),
                "rmst_horizons_days": list(self.rmst_horizons_days),
                "groups": self.summary_.to_dict("records"),
                "reference_group": self.reference_group_,
                "logrank": self.logrank_,
                "rmst": self.rmst_.to_dict("records"),
                "rmst_differences": self.rmst_differences_.to_dict("records"),
                "curves": self.curves_.to_dict("records"),
                "revenue_curves": self.revenue_curves_.to_dict("records"),
                "notes": self.notes(),
            }
        )


def _stack(labels: list[str], parts: list[dict], columns: list[str]) -> pd.DataFrame:
    """One long DataFrame (group, then the columns) from each group's arrays, built in one go."""
    lengths = [len(p["time_days"]) for p in parts]
    data = {"group": np.repeat(np.array(labels, dtype=object), lengths)}
    for c in columns[1:]:
        data[c] = np.concatenate([p[c] for p in parts])
    return pd.DataFrame(data, copy=False)  # the arrays are fresh: no need for pandas to copy them again


def require_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Raise SurvivalInputError naming the tables survival needs that the database lacks (on a cursor of its
    own: a query on `con` may just have failed)."""
    with con.cursor() as cursor:
        present = {row[0] for row in cursor.execute(query_text("km_tables_present")).fetchall()}
    missing = [t for t in REQUIRED_TABLES if t not in present]
    if missing:
        raise SurvivalInputError(
            f"the database has no {', '.join(missing)} table; build it first with `retention build`"
        ) from None


def no_accounts_error(con: duckdb.DuckDBPyConnection, filters: list) -> SurvivalInputError:
    """The error for a selection with no accounts: the filters match none (naming them and the database's count),
    or the build has none."""
    if not filters:
        return SurvivalInputError("account_survival has no accounts; rebuild with an accounts file that has rows")
    n_all = con.execute(query_text("km_account_count")).fetchall()[0][0]  # a count: always one row
    shown = " and ".join(f.text for f in filters)
    return SurvivalInputError(
        f"no accounts match the filters {shown} (the database has {n_all:,} accounts); "
        "check the values, e.g. with --by on the filtered column"
    )


def build_as_of(con: duckdb.DuckDBPyConnection) -> date | None:
    """The build's as-of date (None for a build_info without its row)."""
    rows = con.execute(query_text("km_as_of")).fetchall()
    return rows[0][0] if rows else None


def _split_groups(counts, label) -> list[GroupCounts]:
    """Cut the per-day counts into one GroupCounts per group: groups in the order of their values with the
    missing group last (SQL's `order by group_value nulls last`), days ascending within each.

    Sorted here rather than in SQL: ordering 4,000 rows in numpy is cheaper than DuckDB's sort operator.
    Strings order by code point in Python and by UTF-8 bytes in DuckDB, which is the same order."""
    values = counts["group_value"]
    if isinstance(values, pd.Series):
        missing, values = values.isna().to_numpy(), values.to_numpy(dtype=object)
    else:
        missing, values = np.ma.getmaskarray(values), np.ma.getdata(values)
    codes = np.empty(len(values), dtype=np.int64)
    codes[~missing], uniques = pd.factorize(values[~missing], sort=True)
    codes[missing] = len(uniques)
    columns = {c: np.ma.getdata(np.asarray(counts[c]) if isinstance(counts[c], pd.Series) else counts[c])
               for c in ("time_days", "n_removed", "n_events", "mrr_removed", "mrr_events", "n_mrr_missing")}
    order = np.lexsort((columns["time_days"], codes))
    codes = codes[order]
    columns = {c: v[order] for c, v in columns.items()}
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    groups = []
    for start, end in zip(starts, ends):
        part = slice(start, end)
        code = codes[start]
        groups.append(
            GroupCounts(
                label=label(None if code == len(uniques) else uniques[code]),
                time_days=columns["time_days"][part].astype(np.int64, copy=False),
                n_removed=columns["n_removed"][part].astype(np.int64, copy=False),
                n_events=columns["n_events"][part].astype(np.int64, copy=False),
                mrr_removed=np.nan_to_num(columns["mrr_removed"][part].astype(float)),
                mrr_events=np.nan_to_num(columns["mrr_events"][part].astype(float)),
                n_mrr_missing=int(columns["n_mrr_missing"][part].sum()),
            )
        )
    if len({g.label for g in groups}) != len(groups):
        # e.g. the pandas path was given unsorted groups; labels must name one group each
        raise SurvivalInputError(f"group labels are not unique: {[g.label for g in groups]}")
    return groups


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT or (
        not isinstance(value, str) and pd.isna(value)
    )


def _label_plain(value) -> str:
    if _is_missing(value):
        return MISSING_LABEL
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def _label_month(value) -> str:
    if _is_missing(value):
        return MISSING_LABEL
    return pd.Timestamp(value).strftime("%Y-%m")


