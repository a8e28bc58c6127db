"""A vectorised Cox proportional-hazards fitter for counting-process (start, stop] data, Efron ties.

Why not lifelines' CoxTimeVaryingFitter directly: it loops over event times in Python, so a panel of a
few hundred thousand account-months takes minutes. This fitter computes every risk-set sum with sorted
cumulative sums, so one Newton step costs O(n·p²) in NumPy. lifelines stays the reference: the tests
compare coefficients and standard errors to it (1e-6).

Conventions follow lifelines: a row is at risk at event time t when start < t <= stop; covariates are
standardised internally and the optional L2 penalizer (0.5 · penalizer · Σβ²) applies on that scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.linalg.blas import dsyrk


class ConvergenceError(RuntimeError):
    """Newton-Raphson did not converge (often separation or collinear covariates)."""


@dataclass
class _RiskSets:
    """Index structures that do not depend on the coefficients: computed once per fit."""

    times: np.ndarray  # distinct event times, ascending (m,)
    n_le_stop: np.ndarray  # (n,) number of event times <= stop
    n_le_start: np.ndarray  # (n,) number of event times <= start
    event_rows: np.ndarray  # (e,) row indices of events, sorted by time
    event_time_index: np.ndarray  # (e,) index into times
    tie_fraction: np.ndarray  # (e,) l/d for Efron's l-th of d tied events
    deaths: np.ndarray  # (m,) events at each time
    first_event_of_time: np.ndarray  # (m,) position in event_rows of each time's first event
    change: sparse.csc_matrix  # (m + 1, n): +1 at (n_le_start, row), -1 at (n_le_stop, row)
    change_row: np.ndarray  # (nnz,) the row of each entry stored in change, in its order


def _risk_sets(start: np.ndarray, stop: np.ndarray, event: np.ndarray) -> _RiskSets:
    event_rows = np.flatnonzero(event)
    event_rows = event_rows[np.argsort(stop[event_rows], kind="stable")]
    times, event_time_index, deaths = np.unique(stop[event_rows], return_inverse=True, return_counts=True)
    # rank of each event among its ties: 0..d-1
    first_of_time = np.concatenate([[0], np.cumsum(deaths)[:-1]])
    tie_rank = np.arange(event_rows.size) - first_of_time[event_time_index]
    n_le_stop = np.searchsorted(times, stop, side="right")
    n_le_start = np.searchsorted(times, start, side="right")
    rows = np.arange(start.size)
    change = sparse.csc_matrix(
        (np.concatenate([np.ones(start.size), -np.ones(start.size)]),
         (np.concatenate([n_le_start, n_le_stop]), np.concatenate([rows, rows]))),
        shape=(times.size + 1, start.size))
    change.eliminate_zeros()  # a row at risk at no event time enters and leaves at the same index
    return _RiskSets(
        times=times,
        n_le_stop=n_le_stop,
        n_le_start=n_le_start,
        event_rows=event_rows,
        event_time_index=event_time_index,
        tie_fraction=tie_rank / deaths[event_time_index],
        deaths=deaths,
        first_event_of_time=first_of_time,
        change=change,
        change_row=np.repeat(rows, np.diff(change.indptr)),
    )


def risk_sets(start, stop, event) -> _RiskSets:
    """The risk-set structures of (start, stop] rows, to share between fits of different terms on the same rows."""
    return _risk_sets(np.asarray(start, dtype=float), np.asarray(stop, dtype=float), np.asarray(event, dtype=bool))


def _risk_set_sums(values: np.ndarray, rs: "_RiskSets") -> np.ndarray:
    """Σ of values over the rows at risk at each event time: a row is at risk from event-time index
    n_le_start (the first event time after its start) up to, not including, n_le_stop. The changes at each
    index are one sparse product (two entries per row, built once per fit), then a cumulative sum over the m
    event times, so no re-sorting of the rows on each step. Row-major (C-ordered) values read fastest."""
    return np.cumsum(rs.change @ values, axis=0)[: rs.times.size]


def _weighted_risk_set_sums(weights: np.ndarray, X: np.ndarray, rs: "_RiskSets") -> np.ndarray:
    """`_risk_set_sums(X * weights[:, None], rs)` without writing the weighted n×p array: the weights go into the
    sparse matrix's entries instead (±w, two per row), so X is read once. Each entry's product is the same
    w·x, added in the same order, so the sums are the same to the last bit."""
    change = rs.change
    weighted = sparse.csc_matrix((change.data * np.take(weights, rs.change_row), change.indices, change.indptr),
                                 shape=change.shape)
    return np.cumsum(weighted @ X, axis=0)[: rs.times.size]


# the count grid below holds at most this many cells (64 MB of int32); larger inputs use wider bins instead
_COUNT_GRID_CELLS = 16_000_000
# and is filled this many cells at a time
_GRID_STEP_CELLS = 1_000_000


def _stable_order(code: np.ndarray) -> np.ndarray:
    """argsort(code, kind="stable") for non-negative integers, as two 16-bit passes: NumPy radix-sorts 16-bit
    keys in linear time, where a general stable sort of a million int64 takes ten times longer."""
    if code.size == 0 or code.max() >= 2**32:
        return np.argsort(code, kind="stable")
    low = np.argsort((code & 0xFFFF).astype(np.uint16), kind="stable")
    if code.max() < 2**16:
        return low
    return low[np.argsort((code[low] >> 16).astype(np.uint16), kind="stable")]


def _count_below(group: np.ndarray, code: np.ndarray, sign: np.ndarray, query_group: np.ndarray,
                 query_code: np.ndarray) -> np.ndarray:
    """For each query q: twice Σ sign_r over the items r with group_r <= query_group_q and code_r <
    query_code_q, an item with code_r == query_code_q counting one half (twice, so the result is an exact
    integer). Groups and codes are non-negative integers, signs +1 or -1.

    A two-dimensional dominance count without a Python loop over items or queries. With the items in code
    order, "code below the query's" is a prefix of p items. A query whose group is at least every item's (in a
    holdout's concordance, every account still there at the horizon) counts the whole prefix, read from the
    items' running sum. For the others the prefix splits into whole bins of `size` consecutive items, read from a
    grid of cumulative counts by (bins before, group <= g), and one partial bin of fewer than `size` items, counted
    directly. The bin size balances the grid (items / size × groups cells) against the direct part (queries ×
    size)."""
    query_group = np.asarray(query_group, dtype=np.int64)
    query_code = np.asarray(query_code, dtype=np.int64)
    n_queries = query_group.size
    if n_queries == 0 or len(group) == 0:
        return np.zeros(n_queries, dtype=np.int64)
    code = np.asarray(code, dtype=np.int64)
    order = _stable_order(code)
    code = code[order]
    group = np.asarray(group)[order]
    sign = np.asarray(sign)[order].astype(np.int8)
    n_items = code.size
    # how many items have a code below the query's, then below or equal: the callers' codes are ranks, at most a
    # few times as many as the items and queries, so a running count over the codes reads what a binary search
    # of the sorted codes finds, without its scattered reads
    highest = max(int(code[-1]), int(query_code.max()))
    if highest <= 4 * (n_items + n_queries):
        items_at = np.bincount(code, minlength=highest + 1)
        items_up_to = np.cumsum(items_at)
        prefixes = (items_up_to[query_code] - items_at[query_code], items_up_to[query_code])
    else:
        prefixes = (np.searchsorted(code, query_code, side="left"), np.searchsorted(code, query_code, side="right"))
    twice = np.empty(n_queries, dtype=np.int64)
    every = query_group >= group.max()
    signed_up_to = np.concatenate([[0], np.cumsum(sign, dtype=np.int64)])
    twice[every] = signed_up_to[prefixes[0][every]] + signed_up_to[prefixes[1][every]]
    rest = ~every
    if rest.any():
        twice[rest] = _count_below_by_grid(group, sign, query_group[rest], (prefixes[0][rest], prefixes[1][rest]))
    return twice


def _count_below_by_grid(group: np.ndarray, sign: np.ndarray, query_group: np.ndarray,
                         prefixes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """`_count_below` for queries given by their group and their two prefixes of the items in code order, through
    the grid of whole bins and the partial bin counted directly."""
    n_queries = query_group.size
    n_groups = int(query_group.max()) + 2  # groups above every query's are put in the last, never-read column
    group = np.minimum(group, n_groups - 1).astype(np.int32)
    n_items = group.size
    size = max(1, int(np.sqrt(n_items * n_groups / n_queries)), -(-n_items * n_groups // _COUNT_GRID_CELLS))
    n_bins = n_items // size + 1
    # grid[b, g] = Σ sign over the items of the bins before b with group <= g; no sum can pass the number of
    # items, so 32 bits hold it exactly at half the memory of 64
    grid_type = np.int32 if n_items < 2**31 else np.int64
    grid = np.zeros((n_bins + 1, n_groups), dtype=grid_type)
    # filled a few bins at a time (the items are in bin order), so bincount's float64 sums stay small
    bins_per_step = max(1, _GRID_STEP_CELLS // n_groups)
    for first_bin in range(0, n_bins, bins_per_step):
        last_bin = min(first_bin + bins_per_step, n_bins)
        lo, hi = first_bin * size, min(last_bin * size, n_items)
        grid[1 + first_bin:1 + last_bin] = np.bincount(
            (np.arange(lo, hi) // size - first_bin) * n_groups + group[lo:hi], weights=sign[lo:hi],
            minlength=(last_bin - first_bin) * n_groups).reshape(last_bin - first_bin, n_groups)  # exact integers
    np.cumsum(grid, axis=1, dtype=grid_type, out=grid)
    np.cumsum(grid, axis=0, dtype=grid_type, out=grid)
    twice = np.zeros(n_queries, dtype=np.int64)
    offsets = np.arange(size, dtype=np.int32)
    query_group32 = query_group.astype(np.int32)
    chunk = max(1, 65_536 // size)  # queries per step of the direct part: a few hundred kB, cache-sized
    for prefix in prefixes:  # items below the query, then below or tied with it
        bin_of = prefix // size
        twice += grid[bin_of, query_group]
        first = (bin_of * size).astype(np.int32)
        length = (prefix - bin_of * size).astype(np.int32)
        for lo in range(0, n_queries, chunk):  # the partial bin: items first .. prefix - 1
            hi = min(lo + chunk, n_queries)
            index = np.minimum(first[lo:hi, None] + offsets, n_items - 1)
            counted = (offsets < length[lo:hi, None]) & (group[index] <= query_group32[lo:hi, None])
            twice[lo:hi] += (sign[index] * counted).sum(axis=1, dtype=np.int64)
    return twice


def concordance_index(event_times, predicted_scores, event_observed) -> float:
    """Harrell's C as lifelines' `concordance_index` counts it, to the last bit, without its Python loop over
    subjects. A pair is comparable when one subject churned strictly before the other left, or churned at the time
    the other was censored (a censoring is taken to come after a churn at the same time); two churns at the same
    time, or a censoring before the other's exit, are not compared. The pair is concordant when the earlier churn
    has the lower score (scores are predicted times: pass minus a risk); equal scores count one half. NaN when
    no pair is comparable (lifelines raises there)."""
    times = np.asarray(event_times, dtype=float).ravel()
    scores = np.asarray(predicted_scores, dtype=float).ravel()
    churned = np.asarray(event_observed, dtype=float).ravel()
    if not times.shape == scores.shape == churned.shape:
        raise ValueError("event times, scores and events need one value per subject")
    if np.isnan(times).any() or np.isnan(scores).any() or np.isnan(churned).any():
        raise ValueError("NaNs in the event times, scores or events: drop or impute them first")
    churned = churned.astype(bool)
    time_rank = np.unique(times, return_inverse=True)[1].ravel().astype(np.int64)
    score_rank = np.unique(scores, return_inverse=True)[1].ravel().astype(np.int64)
    # the churns are the items, every subject a query: a churn is counted for a subject when its time rank + 1 is at
    # most the subject's time rank (strictly earlier), or at most the rank + 1 for a censored subject (same time too)
    churn_group = time_rank[churned] + 1
    query_group = time_rank + ~churned
    twice = _count_below(churn_group, score_rank[churned], np.ones(churn_group.size, dtype=np.int64), query_group,
                         score_rank)
    churns_up_to = np.cumsum(np.bincount(churn_group, minlength=int(query_group.max()) + 1))
    comparable = int(churns_up_to[query_group].sum())
    if comparable == 0:
        return float("nan")
    # twice the count is an integer a float holds exactly, so halving it is exact: the same float as lifelines' sum
    return int(twice.sum()) / 2 / comparable


def _efron_terms(X: np.ndarray, beta: np.ndarray, rs: _RiskSets, scratch: np.ndarray | None = None):
    """Log partial likelihood, gradient and Hessian (Efron) at beta. X is best row-major (C-ordered).
    `scratch`, an array shaped like X, is reused for the n×p product when given: a fresh n×p array per
    step costs more (page faults on a new allocation) than the arithmetic done in it."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _efron_terms_unchecked(X, beta, rs, np.empty_like(X) if scratch is None else scratch)


def _efron_terms_unchecked(X: np.ndarray, beta: np.ndarray, rs: _RiskSets, scratch: np.ndarray):
    eta = X @ beta
    shift = eta.max()
    w = np.exp(eta - shift)
    s0 = _risk_set_sums(w, rs)
    s1 = _weighted_risk_set_sums(w, X, rs)
    m = rs.times.size
    ev = rs.event_rows
    k = rs.event_time_index
    w_ev = np.take(w, ev)
    x_ev = np.take(X, ev, axis=0)
    d0 = np.bincount(k, weights=w_ev, minlength=m)
    # the events are sorted by time and every event time has one, so per-time sums are segment sums
    d1 = np.add.reduceat(x_ev * w_ev[:, None], rs.first_event_of_time, axis=0)

    frac = rs.tie_fraction
    phi = s0[k] - frac * d0[k]  # (e,)
    v = s1[k] - frac[:, None] * d1[k]  # (e, p)
    loglik = eta[ev].sum() - np.log(phi).sum() - shift * ev.size

    # Σ_j S1/φ_j and Σ_j S2/φ_j without building per-time p×p sums: each row r is weighted by
    # C_r = Σ over the event terms j whose time it is at risk for, of 1/φ_j (and e_r likewise for ties).
    c = np.bincount(k, weights=1.0 / phi, minlength=m)
    e = np.bincount(k, weights=frac / phi, minlength=m)
    c_cum = np.concatenate([[0.0], np.cumsum(c)])
    # the indices are in range by construction, so the cheaper "clip" gather reads the same values
    row_weight = w * (np.take(c_cum, rs.n_le_stop, mode="clip") - np.take(c_cum, rs.n_le_start, mode="clip"))
    event_weight = w_ev * e[k]
    gradient = x_ev.sum(axis=0) - (row_weight @ X - event_weight @ x_ev)
    # Σ_r C_r w_r x_r x_r' as S'S with S = sqrt(C w) x, one symmetric rank-k update (half a general product)
    second = _gram(np.multiply(X, np.sqrt(row_weight)[:, None], out=scratch)) \
        - (x_ev * event_weight[:, None]).T @ x_ev
    hessian = -(second - (v / phi[:, None] ** 2).T @ v)
    return loglik, gradient, hessian, eta


def _gram(S: np.ndarray) -> np.ndarray:
    """S'S for a row-major S (BLAS syrk fills one triangle; mirrored here)."""
    if not S.flags.c_contiguous:
        return S.T @ S
    upper = dsyrk(1.0, S.T, trans=0)  # S.T is column-major: no copy
    return np.triu(upper) + np.triu(upper, 1).T


def _tie_safe_risk(Z: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Z @ beta summed one column at a time, so rows with equal covariates get bit-equal risks. A BLAS
    product may sum a row's terms in an order that depends on the row's position in the matrix, which
    splits tied risks by one unit in the last place, and the concordance counts ties as one half.
    Done in blocks of rows so each block's columns are read from cache (a whole strided column of a
    row-major Z per pass costs three times more)."""
    eta = np.empty(Z.shape[0])
    term = np.empty(min(_RISK_BLOCK_ROWS, Z.shape[0]))
    for lo in range(0, Z.shape[0], _RISK_BLOCK_ROWS):
        block, out = Z[lo:lo + _RISK_BLOCK_ROWS], eta[lo:lo + _RISK_BLOCK_ROWS]
        np.multiply(block[:, 0], beta[0], out=out)
        for column in range(1, beta.size):
            out += np.multiply(block[:, column], beta[column], out=term[: out.size])
    return eta


_RISK_BLOCK_ROWS = 16_384


def _checked_rows(start, stop, event, X) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The fit's inputs as arrays, or a ValueError (ConvergenceError without churn) saying what is wrong. X is None
    when the covariates come standardised already (`StandardisedColumns` checked them)."""
    start = np.asarray(start, dtype=float)
    stop = np.asarray(stop, dtype=float)
    event = np.asarray(event, dtype=bool)
    if X is not None:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] != start.size:
            raise ValueError("X must have one row per (start, stop] row")
    if np.any(stop <= start):
        raise ValueError("every row needs stop > start")
    if X is not None and not np.all(np.isfinite(X)):
        raise ValueError("covariates contain NaN or infinite values; impute them first")
    if not event.any():
        raise ConvergenceError("no events: a Cox model needs at least one churn")
    return start, stop, event, X


def _standardised(X: np.ndarray, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(X - means) / scales, written row-major (the sparse risk-set sums and the products in _efron_terms read
    rows) in the same pass instead of transposing a column-major result afterwards."""
    Z = np.empty(X.shape)
    np.subtract(X, means, out=Z)
    Z /= scales
    return Z


class StandardisedColumns:
    """Every column of a covariate matrix on the scale Newton works in, (x - mean) / sd, computed once for the many
    fits of subsets of the columns on the same rows (a model per factor). Each column's mean and sd are computed on
    the column alone, as a fit of a subset computes them, so `take` gives that fit's matrix to the last bit, for
    the price of copying its columns."""

    def __init__(self, X, names: list[str]):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(names):
            raise ValueError("X needs one column per name")
        if not np.all(np.isfinite(X)):
            raise ValueError("covariates contain NaN or infinite values; impute them first")
        self.names = list(names)
        self.n_rows = X.shape[0]
        self._position = {name: i for i, name in enumerate(self.names)}
        self.means = X.mean(axis=0)
        self.scales = X.std(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):  # a constant column: a fit that takes it says so
            self.Z = _standardised(X, self.means, self.scales)

    def take(self, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The standardised columns `names` (a new row-major array), their means and their sds."""
        missing = [name for name in names if name not in self._position]
        if missing:
            raise ValueError(f"not among the standardised columns: {missing}")
        positions = [self._position[name] for name in names]
        return np.take(self.Z, positions, axis=1), self.means[positions], self.scales[positions]


class TimeVaryingCox:
    """Cox model on (start, stop] rows. Configure here; fit() returns self; results end in an underscore."""

    # the cluster-robust covariance, set by a caller that asks for it (ServiceDrivers, `robust_variance`)
    robust_variance_matrix_: pd.DataFrame | None = None

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-10, max_iter: int = 60):
        self.penalizer = penalizer
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, start, stop, event, X, names: list[str] | None = None, initial=None,
            risk_sets: "_RiskSets | None" = None, standardised: StandardisedColumns | None = None) -> "TimeVaryingCox":
        """`initial`: coefficients (on the scale of X) to start Newton from instead of zero, e.g. a fit of the
        same terms on more data. The partial likelihood is concave, so the optimum reached is the same; a
        start near it only saves steps. `standardised`: the columns `names` already standardised, shared by
        fits of different terms on the same rows (X is then not read and may be None)."""
        # separation or a huge step overflows exp(); the step-halving and the checks below handle it
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._fit(start, stop, event, X, names, initial, risk_sets, standardised)

    def _fit(self, start, stop, event, X, names, initial, risk_sets=None, standardised=None) -> "TimeVaryingCox":
        start, stop, event, X = _checked_rows(start, stop, event, None if standardised is not None else X)
        if standardised is None:
            self.names_ = list(names) if names is not None else [f"x{i}" for i in range(X.shape[1])]
            Z = self._standardise(X)
        else:
            if names is None or standardised.n_rows != start.size:
                raise ValueError("standardised columns need the names to fit and one row per (start, stop] row")
            self.names_ = list(names)
            Z, self.means_, self.scales_ = standardised.take(self.names_)
            self._check_scales()
        # models of different terms on the same rows share the risk sets (see `risk_sets`)
        rs = risk_sets if risk_sets is not None else _risk_sets(start, stop, event)
        beta, loglik, hessian, iteration = self._newton(Z, rs, initial)
        information = -(hessian - self.penalizer * np.eye(beta.size))
        try:
            cov_z = np.linalg.inv(information)
        except np.linalg.LinAlgError:
            raise ConvergenceError("the information matrix is singular: covariates are collinear") from None
        if not np.all(np.isfinite(cov_z)) or np.any(np.diag(cov_z) <= 0):
            # separation (a term that perfectly predicts churn in small data) leaves no usable curvature
            raise ConvergenceError("the fit has no finite standard errors (a term separates churners perfectly)")

        self.params_ = pd.Series(beta / self.scales_, index=self.names_, name="coef")
        self.variance_matrix_ = pd.DataFrame(
            cov_z / np.outer(self.scales_, self.scales_), index=self.names_, columns=self.names_
        )
        self.log_likelihood_ = float(loglik)
        self.iterations_ = iteration
        self.n_rows_ = int(start.size)
        self.n_events_ = int(event.sum())
        self._z_beta = beta
        self._rs = rs
        self._Z = Z
        return self

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        """(X - means) / scales, the scale Newton works in; the means and scales are kept to map back."""
        self.means_ = X.mean(axis=0)
        self.scales_ = X.std(axis=0)
        self._check_scales()
        return _standardised(X, self.means_, self.scales_)

    def _check_scales(self) -> None:
        if np.any(self.scales_ == 0):
            constant = [n for n, s in zip(self.names_, self.scales_) if s == 0]
            raise ValueError(f"constant covariates cannot be estimated: {constant}")

    def _newton(self, Z: np.ndarray, rs, initial) -> tuple[np.ndarray, float, np.ndarray, int]:
        """Maximise the penalised Efron partial likelihood: the coefficients (standardised scale), the log
        likelihood and Hessian there, and the steps taken."""
        if initial is None:
            beta = np.zeros(Z.shape[1])
        else:
            initial = np.asarray(initial, dtype=float)
            if initial.shape != (Z.shape[1],) or not np.all(np.isfinite(initial)):
                raise ValueError(f"initial needs {Z.shape[1]} finite coefficients, one per column of X")
            beta = initial * self.scales_  # on the standardised scale Newton works in
        penalty = self.penalizer
        scratch = np.empty_like(Z)
        loglik, gradient, hessian, _ = _efron_terms(Z, beta, rs, scratch)
        if initial is not None and not (np.isfinite(loglik) and np.all(np.isfinite(hessian))):
            # a start so far off that exp() overflows gives Newton nothing to work with: start from zero
            beta = np.zeros(Z.shape[1])
            loglik, gradient, hessian, _ = _efron_terms(Z, beta, rs, scratch)
        objective = loglik - 0.5 * penalty * beta @ beta
        for iteration in range(1, self.max_iter + 1):
            g = gradient - penalty * beta
            h = hessian - penalty * np.eye(beta.size)
            try:
                step = np.linalg.solve(-h, g)
            except np.linalg.LinAlgError:
                raise ConvergenceError("the Hessian is singular: covariates are collinear") from None
            if not np.all(np.isfinite(step)):
                # exp() overflowed on the way out (separation): every later step would be NaN too, each costing a
                # full search of halvings, so this fit has ended
                raise ConvergenceError(f"no convergence: the likelihood overflowed after {iteration - 1} Newton "
                                       "steps (a term separates churners)")
            # halve the step until the penalised likelihood does not fall (guards against overshooting)
            for _ in range(30):
                candidate = beta + step
                c_loglik, c_gradient, c_hessian, _ = _efron_terms(Z, candidate, rs, scratch)
                c_objective = c_loglik - 0.5 * penalty * candidate @ candidate
                if c_objective >= objective - 1e-12 * abs(objective):
                    break
                step = step / 2
            else:
                if np.max(np.abs(step)) >= self.tol:
                    # no fraction of a step that is not small raises the likelihood: it has flattened out without
                    # a maximum (a term separates churners, or terms are nearly collinear), and each later step
                    # would spend its search the same way
                    raise ConvergenceError(f"no convergence: no part of Newton step {iteration} raises the "
                                           "likelihood (a term separates churners, or terms are nearly collinear)")
            beta, loglik, gradient, hessian, previous = candidate, c_loglik, c_gradient, c_hessian, objective
            objective = c_objective
            if np.max(np.abs(step)) < self.tol or abs(objective - previous) < self.tol * max(1.0, abs(objective)) * 1e-3:
                if np.all(np.isfinite(beta)):
                    return beta, loglik, hessian, iteration
                break
        raise ConvergenceError(f"no convergence after {self.max_iter} Newton steps")

    def robust_variance(self, cluster) -> pd.DataFrame:
        """Covariance of the coefficients that holds when the model is not exactly right, clustered by `cluster`
        (one label per fitted row, e.g. the account): Lin & Wei's sandwich, I⁻¹ (Σ_c U_c U_cᵀ) I⁻¹, with U_c the
        sum of the cluster's Breslow score residuals. An account's months are not independent rows, so the
        model-based covariance alone is too narrow when, say, a measure's effect is not log-linear."""
        rs, Z = self._rs, self._Z
        eta = Z @ self._z_beta
        w = np.exp(eta - eta.max())
        s0 = _risk_set_sums(w, rs)
        s1 = _weighted_risk_set_sums(w, Z, rs)
        mean_z = s1 / s0[:, None]
        hazard = rs.deaths / s0  # Breslow increments on the shifted scale: w·hazard is scale-free
        # cumulative sums over event-time indices, so a row's sum over the event times it is at risk for is a
        # difference at its two indices
        cum_hazard = np.concatenate([[0.0], np.cumsum(hazard)])
        cum_mean = np.vstack([np.zeros(Z.shape[1]), np.cumsum(mean_z * hazard[:, None], axis=0)])
        first, last = rs.n_le_start, rs.n_le_stop
        moved_hazard = cum_hazard[last] - cum_hazard[first]
        # -w (z ΔH - ΔM), each row's own ΔH and ΔM over the event times it is at risk for, worked by blocks of rows
        # in two small arrays that stay in cache: fresh n×p temporaries cost more (page faults) than the arithmetic
        residuals = np.empty(Z.shape)
        moved_mean = np.empty((min(_RISK_BLOCK_ROWS, Z.shape[0]), Z.shape[1]))
        left_mean = np.empty_like(moved_mean)
        for lo in range(0, Z.shape[0], _RISK_BLOCK_ROWS):
            rows = slice(lo, min(lo + _RISK_BLOCK_ROWS, Z.shape[0]))
            size = rows.stop - lo
            block = np.multiply(Z[rows], moved_hazard[rows, None], out=residuals[rows])
            # np.take with out= and an index known in range ("clip") is NumPy's fastest gather
            np.take(cum_mean, last[rows], axis=0, out=moved_mean[:size], mode="clip")
            moved_mean[:size] -= np.take(cum_mean, first[rows], axis=0, out=left_mean[:size], mode="clip")
            block -= moved_mean[:size]
            block *= -w[rows, None]
        residuals[rs.event_rows] += Z[rs.event_rows] - mean_z[rs.event_time_index]
        cluster = np.asarray(cluster)
        codes = cluster if np.issubdtype(cluster.dtype, np.integer) else pd.factorize(cluster)[0]
        if codes.size != Z.shape[0]:
            raise ValueError("cluster needs one label per fitted row")
        n_clusters = int(codes.max()) + 1
        # each cluster's sum as one sparse product: its rows are added in row order, as a bincount per column would
        membership = sparse.csr_matrix((np.ones(codes.size), (codes, np.arange(codes.size))),
                                       shape=(n_clusters, codes.size))
        by_cluster = membership @ residuals
        cov_z = self.variance_matrix_.to_numpy() * np.outer(self.scales_, self.scales_)
        robust_z = cov_z @ (by_cluster.T @ by_cluster) @ cov_z
        return pd.DataFrame(robust_z / np.outer(self.scales_, self.scales_), index=self.names_, columns=self.names_)

    def proportional_hazards_tests(self, X: np.ndarray) -> pd.DataFrame:
        """Grambsch-Therneau test per term (X: the fitted covariates): do scaled Schoenfeld residuals trend with log(time)?"""
        rs = self._rs
        beta = self.params_.to_numpy()
        # same layout as X, so the same arithmetic as X - means
        eta = np.subtract(X, self.means_, out=np.empty_like(X)) @ beta
        w = np.exp(eta - eta.max())
        s0 = _risk_set_sums(w, rs)
        s1 = _weighted_risk_set_sums(w, X, rs)
        k = rs.event_time_index
        residuals = X[rs.event_rows] - (s1 / s0[:, None])[k]
        times = rs.times[k]
        g = np.log(times)
        g = g - g.mean()
        variance = self.variance_matrix_.to_numpy()
        n_events = residuals.shape[0]
        scaled = n_events * residuals @ variance
        numerator = (g @ scaled) ** 2
        denominator = n_events * np.diag(variance) * (g @ g)
        with np.errstate(invalid="ignore", divide="ignore"):  # one event time: no trend to test (NaN)
            statistic = numerator / denominator
        return pd.DataFrame({"term": self.names_, "ph_test_statistic": statistic,
                             "ph_p_value": stats.chi2.sf(statistic, 1)})

    @property
    def standard_errors_(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.variance_matrix_.to_numpy())), index=self.names_, name="se(coef)")

    @property
    def summary(self) -> pd.DataFrame:
        coef = self.params_
        se = self.standard_errors_
        z = coef / se
        q = stats.norm.ppf(0.975)
        with np.errstate(over="ignore"):
            frame = pd.DataFrame(
                {
                    "coef": coef,
                    "exp(coef)": np.exp(coef),
                    "se(coef)": se,
                    "coef lower 95%": coef - q * se,
                    "coef upper 95%": coef + q * se,
                    "exp(coef) lower 95%": np.exp(coef - q * se),
                    "exp(coef) upper 95%": np.exp(coef + q * se),
                    "z": z,
                    "p": 2 * stats.norm.sf(np.abs(z)),
                }
            )
        return frame

    def predict_log_partial_hazard(self, X) -> np.ndarray:
        """Linear predictor relative to the covariate means (as lifelines centres it)."""
        X = np.asarray(X, dtype=float)
        return (X - self.means_) @ self.params_.to_numpy()

    def concordance(self) -> float:
        """Time-dependent Harrell's C on the fitted rows: at each churn, is the churning row's risk higher
        than that of each other row still at risk at that time (ties in risk count one half; rows churning
        at the same time are not compared)?"""
        rs = self._rs
        eta = _tie_safe_risk(self._Z, self._z_beta)
        n, m = eta.size, rs.times.size
        k = rs.event_time_index
        # risks as dense integer ranks: equal risks share a rank, so "<" and "=" are exact integer comparisons
        order = np.argsort(eta)
        ranked = eta[order]
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.cumsum(np.concatenate([[0], ranked[1:] != ranked[:-1]]))
        event_rank = rank[rs.event_rows]
        # rows at risk at time k = rows entered by k (n_le_start <= k) minus rows left by k (n_le_stop <= k);
        # the churning rows of the same time (the row itself included) are not comparable: +1 at k, -1 from k + 1
        ones = np.ones(n, dtype=np.int64)
        ones_e = np.ones(k.size, dtype=np.int64)
        twice = _count_below(np.concatenate([rs.n_le_start, rs.n_le_stop, k, k + 1]),
                             np.concatenate([rank, rank, event_rank, event_rank]),
                             np.concatenate([ones, -ones, -ones_e, ones_e]), k, event_rank)
        at_risk = np.cumsum(np.bincount(rs.n_le_start, minlength=m + 1) - np.bincount(rs.n_le_stop, minlength=m + 1))[:m]
        concordant = float(twice.sum()) / 2
        comparable = float((at_risk[k] - rs.deaths[k]).sum())
        return concordant / comparable if comparable else float("nan")

    # --- baseline hazard (added for predictions: what-if and at-risk accounts) -------------------------

    def _baseline_increments(self, ties: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Event times, the baseline hazard increment at each (covariates at their means) and the risk-set
        covariate means (relative to the fitted means) at each, from the fitted risk sets."""
        if ties not in ("breslow", "efron"):
            raise ValueError("ties must be 'breslow' or 'efron'")
        rs, Z = self._rs, self._Z
        eta = Z @ self._z_beta
        shift = eta.max()  # exp(eta - shift) cannot overflow; the shift is put back in the increment
        w = np.exp(eta - shift)
        s0 = _risk_set_sums(w, rs)
        s1 = _weighted_risk_set_sums(w, Z, rs)
        if ties == "breslow":
            increment = rs.deaths / s0
        else:
            # Efron: the d tied events at t leave the risk set gradually, as in the partial likelihood
            k = rs.event_time_index
            d0 = np.bincount(k, weights=w[rs.event_rows], minlength=rs.times.size)
            increment = np.bincount(k, weights=1.0 / (s0[k] - rs.tie_fraction * d0[k]), minlength=rs.times.size)
        means = s1 / s0[:, None] * self.scales_
        return rs.times, increment * np.exp(-shift), means

    def baseline_cumulative_hazard(self, ties: str = "breslow") -> pd.DataFrame:
        """H0(t) at each distinct event time, for covariates at their fitted means (lifelines' convention).

        ties="breslow" is lifelines' CoxTimeVaryingFitter.baseline_cumulative_hazard_ (d(t) / Σ exp(lp) over
        the risk set); ties="efron" spreads tied events as the Efron likelihood does (R survfit's default)."""
        times, increment, _ = self._baseline_increments(ties)
        return pd.DataFrame({"baseline cumulative hazard": np.cumsum(increment)},
                            index=pd.Index(times, name="time"))

    @property
    def baseline_cumulative_hazard_(self) -> pd.DataFrame:
        return self.baseline_cumulative_hazard("breslow")

    def baseline_hazard_terms(self, ties: str = "breslow") -> pd.DataFrame:
        """Per event time: the baseline hazard increment, the number of events it rests on, and the risk set's
        covariate means (relative to the fitted means). d log(increment) / d beta = -(risk-set mean) (exact for
        Breslow), which lets callers move the baseline with a perturbed beta without refitting; the events give
        the increment's own sampling variance (increment² / events, Tsiatis)."""
        times, increment, means = self._baseline_increments(ties)
        frame = pd.DataFrame(means, columns=self.names_, index=pd.Index(times, name="time"))
        frame.insert(0, "hazard_increment", increment)
        frame.insert(1, "events", self._rs.deaths.astype(float))
        return frame


def model_state(model: "TimeVaryingCox") -> dict:
    """What predictions need from a fitted model, as plain lists (the build stores it; no data rows)."""
    baseline = model.baseline_hazard_terms("breslow")
    robust = getattr(model, "robust_variance_matrix_", None)
    return {
        "names": list(model.names_),
        "params": model.params_.tolist(),
        "variance": model.variance_matrix_.to_numpy().tolist(),
        "robust_variance": None if robust is None else robust.to_numpy().tolist(),
        "means": np.asarray(model.means_).tolist(),
        "scales": np.asarray(model.scales_).tolist(),
        "n_events": int(model.n_events_),
        "baseline_times": baseline.index.to_numpy(float).tolist(),
        "baseline_increments": baseline["hazard_increment"].to_numpy(float).tolist(),
        "baseline_events": baseline["events"].to_numpy(float).tolist(),
        "baseline_risk_set_means": baseline[model.names_].to_numpy(float).tolist(),
    }


class StoredCox:
    """A fitted model restored from `model_state`: coefficients, covariance, means and the Breslow baseline,
    enough to predict and to move the baseline with coefficient draws, without the training rows."""

    def __init__(self, state: dict):
        self.names_ = list(state["names"])
        self.params_ = pd.Series(state["params"], index=self.names_, name="coef")
        self.variance_matrix_ = pd.DataFrame(state["variance"], index=self.names_, columns=self.names_)
        robust = state.get("robust_variance")
        self.robust_variance_matrix_ = None if robust is None else pd.DataFrame(robust, index=self.names_,
                                                                                  columns=self.names_)
        self.means_ = np.asarray(state["means"], dtype=float)
        self.scales_ = np.asarray(state["scales"], dtype=float)
        self.n_events_ = int(state["n_events"])
        frame = pd.DataFrame(np.asarray(state["baseline_risk_set_means"], dtype=float).reshape(-1, len(self.names_)),
                             columns=self.names_, index=pd.Index(state["baseline_times"], name="time", dtype=float))
        frame.insert(0, "hazard_increment", np.asarray(state["baseline_increments"], dtype=float))
        frame.insert(1, "events", np.asarray(state["baseline_events"], dtype=float))
        self._baseline = frame

    def predict_log_partial_hazard(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return (X - self.means_) @ self.params_.to_numpy()

    def baseline_hazard_terms(self, ties: str = "breslow") -> pd.DataFrame:
        if ties != "breslow":
            raise ValueError("the stored model keeps the Breslow baseline only")
        return self._baseline.copy()
