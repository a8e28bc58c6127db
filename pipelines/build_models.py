"""The models the build fits into the new database (the tables whose header says `made by: models`), so the app
reads results and never refits; a model that cannot be fitted leaves its tables empty and says why in model_info."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cache, partial
from typing import NamedTuple

import duckdb
import numpy as np

from .models.calibration import HoldoutCalibration, spec_of, store_calibration
from .models.causal_structure import CausalStructure
from .models.cause_effects import CauseModels, store_cause_models
from .models.cause_risk import CauseRisk, CauseRiskInputError, store_cause_risk
from .models.coxph import ConvergenceError
from .models.drivers import DriversInputError, ServiceDrivers, store_drivers
from .models.factor_effects import (FactorEffects, FactorRevenueEffects, ordering_effects, store_factor_effects,
                                     store_factor_orderings, store_factor_revenue_effects)
from .models.fits_in_threads import alongside, one_blas_thread
from .models.forecast import ForecastInputError, RetentionForecast, read_inputs, store_forecast
from .models.levers import Levers, store_levers
from .models.risk import AccountRisk, current_rows, store_risk
from .settings import CACHE_RELEASE_LIMIT_MB, MODELS_MEMORY_LIMIT_MB, BuildSettings
from .sqlrun import set_memory_limit


def fit_models(con: duckdb.DuckDBPyConnection, notes: list[str], as_of: date, settings: BuildSettings,
               structure: CausalStructure, memory_limit_mb: int) -> int:
    """Fit the default models into the new database: the drivers model's stored rows."""
    # independent fits run side by side in threads, each with BLAS on one thread (models/fits_in_threads.py)
    with one_blas_thread():
        return _fit_models(con, notes, as_of, settings, structure, memory_limit_mb)


def _fit_models(con: duckdb.DuckDBPyConnection, notes: list[str], as_of: date, settings: BuildSettings,
                structure: CausalStructure, memory_limit_mb: int) -> int:
    # The model fits work in Python memory on what they read; the tables are on disk by now, so DuckDB's
    # cache of them can shrink to make room. The data stages leave that cache full of their tables, of which the
    # models read a small part: a limit far below what it holds, for a moment, makes DuckDB let go of it (what it
    # cannot let go of, it writes to its temp folder), so the stage's peak is the models' own and what they read.
    con.checkpoint()
    set_memory_limit(con, CACHE_RELEASE_LIMIT_MB)
    set_memory_limit(con, min(memory_limit_mb, MODELS_MEMORY_LIMIT_MB))
    if not settings.fit_models:
        notes.append("models not fitted: the build was asked for the data alone")
        reason = "the build was asked for the data alone (retention build --no-models)"
        store_forecast(con, None, error=reason)
        return _no_models(con, reason, structure)
    # the forecast and the revenue effects read only the build's tables, which no other model writes: they are
    # fitted beside the drivers model (one fit, one core), on a cursor of their own, and stored in their turn
    with con.cursor() as cursor, alongside(partial(_fit_aside, cursor, as_of, structure)) as aside:
        return _fit_service_models(con, notes, as_of, settings, structure, aside)


class _Aside(NamedTuple):
    """The models fitted beside the others, or why each could not be."""

    forecast: RetentionForecast | None
    forecast_error: str | None
    revenue: FactorRevenueEffects | None
    revenue_error: str | None


def _fit_aside(con: duckdb.DuckDBPyConnection, as_of: date, structure: CausalStructure) -> _Aside:
    # the forecast reads accounts and MRR alone: it stands whether or not the service models can be fitted
    forecast, forecast_error, revenue, revenue_error = None, None, None, None
    try:
        inputs = read_inputs(con, as_of=as_of)
        forecast = RetentionForecast().fit(inputs.accounts, as_of, inputs.mrr)
    except ForecastInputError as exc:
        forecast_error = str(exc)
    try:
        revenue = FactorRevenueEffects(structure=structure).fit(con)
    except (DriversInputError, ValueError, np.linalg.LinAlgError) as exc:
        revenue_error = str(exc)
    return _Aside(forecast, forecast_error, revenue, revenue_error)


def _store_forecast(con: duckdb.DuckDBPyConnection, notes: list[str], aside: _Aside) -> None:
    if aside.forecast_error is not None:
        notes.append(f"forecast not made: {aside.forecast_error}")
    store_forecast(con, aside.forecast, error=aside.forecast_error)


def _fit_service_models(con: duckdb.DuckDBPyConnection, notes: list[str], as_of: date, settings: BuildSettings,
                        structure: CausalStructure, aside: Callable[[], _Aside]) -> int:
    try:
        # the risk list and the checks below need the model as stored (coefficients, baseline), not its fitted rows
        drivers = ServiceDrivers(max_accounts=settings.drivers_sample).fit(con).as_stored()
    except (DriversInputError, ConvergenceError, ValueError) as exc:
        _store_forecast(con, notes, aside())
        notes.append(f"drivers model not fitted: {exc}")
        return _no_models(con, str(exc), structure)
    _store_forecast(con, notes, aside())
    stored = store_drivers(con, drivers)
    # each model the pages predict with is checked on a time split: the risk list's and every what-if's
    specs = [spec_of("risk", drivers)]
    factor_effects = None
    try:
        factor_effects = FactorEffects(structure=structure).fit(con)
        store_factor_effects(con, factor_effects)
        specs += [spec_of(factor, model) for factor, model in factor_effects.models_.items()]
    except (DriversInputError, ConvergenceError, ValueError) as exc:
        notes.append(f"per-factor models not fitted: {exc}")
        store_factor_effects(con, None, error=str(exc), structure=structure)
    try:
        store_factor_orderings(con, None if factor_effects is None else ordering_effects(con, factor_effects))
    except (DriversInputError, ConvergenceError, ValueError) as exc:
        notes.append(f"the effects under the other plausible orderings not estimated: {exc}")
        store_factor_orderings(con, None)
    # the active accounts' latest rows, which the levers and the risk list both score: read once (an error, such as
    # no active account, is raised again to each)
    active_rows = cache(lambda: current_rows(con, stored=True))
    try:
        store_levers(con, Levers().fit(con, rows=active_rows()))  # from the outcome models just stored
    except ValueError as exc:  # e.g. no active account to run a lever on
        notes.append(f"levers not estimated: {exc}")
        store_levers(con, None, error=str(exc))
    fitted_aside = aside()
    if fitted_aside.revenue_error is not None:
        notes.append(f"per-factor revenue effects not estimated: {fitted_aside.revenue_error}")
    store_factor_revenue_effects(con, fitted_aside.revenue)
    try:
        store_risk(con, AccountRisk().fit(con, drivers=drivers, as_of=as_of, rows=active_rows()))
    except (ValueError, ConvergenceError) as exc:
        notes.append(f"risk scores not made: {exc}")
        store_risk(con, None, error=str(exc))
    store_calibration(con, HoldoutCalibration(specs).fit(con, as_of))
    try:
        store_cause_models(con, CauseModels(structure=structure, drivers_sample=settings.drivers_sample).fit(con))
    except (DriversInputError, ConvergenceError, ValueError) as exc:
        notes.append(f"models by churn cause not fitted: {exc}")
        store_cause_models(con, None, error=str(exc))
    try:
        store_cause_risk(con, CauseRisk().fit(con, as_of=as_of))
    except CauseRiskInputError as exc:  # no cause models (no churn reasons): nothing to split, nothing went wrong
        store_cause_risk(con, None, error=str(exc))
    except (ValueError, ConvergenceError) as exc:
        notes.append(f"risk scores by churn cause not made: {exc}")
        store_cause_risk(con, None, error=str(exc))
    return stored


def _no_models(con: duckdb.DuckDBPyConnection, reason: str, structure: CausalStructure) -> int:
    """Every model table, empty, with why in model_info: the pages say it instead of failing."""
    store_risk(con, None, error=f"no drivers model: {reason}")
    store_calibration(con, None, error=f"no drivers model: {reason}")
    store_levers(con, None, error=f"no drivers model: {reason}")
    store_factor_effects(con, None, error=reason, structure=structure)
    store_factor_orderings(con, None)
    store_factor_revenue_effects(con, None)
    stored = store_drivers(con, None, error=reason)
    store_cause_models(con, None, error=reason)  # its tables take the columns of the ones just made
    store_cause_risk(con, None, error=f"no drivers model: {reason}")
    return stored
