"""What the overview and the investment case say, gathered once for the page, its PDF, the command and the digest.

The pages draw from these, and the briefs print from them, so a number in a PDF or an e-mail is the number on the
page: the same cached queries of dashboard.data, the same sentences of dashboard.findings and
dashboard.investment_view. Nothing here draws or prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from dashboard import data, findings, investment_view, report, scope, structure_view
from dashboard.scope import Filters
from pipelines.errors import InputError


def open_build(path: Path) -> tuple[duckdb.DuckDBPyConnection, dict]:
    """A read-only connection to the build at `path` and its build info; InputError (naming the file) for no file, a
    file that is not a DuckDB database, or a build another version of the tool made."""
    if not Path(path).exists():
        raise InputError(path, "no database here; build one with `retention build` (or `make run` for the demo)")
    try:
        con = data.open_build(str(path))
    except duckdb.Error as error:  # a CSV, a folder, a file another program holds locked
        raise InputError(path, f"cannot be opened as a DuckDB database ({error}); give the file `retention build` "
                               "wrote") from None
    if problem := data.schema_problem(con):
        con.close()
        raise InputError(path, problem)
    return con, data.build_info(con)


@dataclass(frozen=True)
class Overview:
    """The overview of a selection: its KPI tiles against a year earlier, trend and cohorts, and the findings."""

    info: dict
    filters: Filters
    kpis: pd.DataFrame
    monthly: pd.DataFrame
    cohorts: pd.DataFrame
    headline: list[dict]  # report.headline_metrics: label, value, delta, help
    year_on_year: str | None
    levers: list[str]
    lever_accounts: int | None  # the active accounts the levers are worked out on
    survival_line: str | None
    source_note: str
    structure_line: str
    effect_lines: list[str]
    has_churn_reasons: bool
    cause_split: findings.ChurnByCause | None
    cause_line: str | None

    @property
    def findings_lines(self) -> list[str]:
        """The findings in the page's order, before the forecast's."""
        return self.levers + ([self.survival_line] if self.survival_line else []) + self.effect_lines


@dataclass(frozen=True)
class ForecastView:
    """Where the selection is heading: the forecast (None with the reason when there is none) and its sentences."""

    forecast: pd.DataFrame | None
    info: dict = field(default_factory=dict)
    sentence: str | None = None
    cause_sentence: str | None = None
    missing_reason: str | None = None


def overview(con: duckdb.DuckDBPyConnection, info: dict, filters: Filters) -> Overview:
    """The overview of the accounts `filters` selects within the person's scope (ValueError when none do)."""
    build_id, as_of = info["build_id"], info["as_of_date"]
    filters = scope.scoped(tuple(filters))  # what the queries narrow to anyway, so the brief names the scope too
    if data.account_count(con, filters) == 0:
        raise ValueError("no accounts match the filters")
    kpis, monthly, cohorts = data.cached_kpis(con, build_id, filters, as_of)
    survival = data.cached_survival(con, build_id, None, filters)
    headline = report.headline_metrics(kpis, survival.summary_)
    lever_table = data.cached_levers(con, build_id)
    try:
        effects = data.findings_effects(con, build_id, filters, False)
    except ValueError:  # e.g. no churn at all: the KPIs still stand, the findings cannot
        effects = None
    has_reasons = bool(data.build_has_churn_reasons(con, build_id))
    split = cause_line = None
    if has_reasons:
        split = findings.churn_by_cause(monthly, data.cached_kpi_causes(con, build_id, filters, as_of))
        cause_line = findings.cause_sentence(split)
    return Overview(
        info=info, filters=tuple(filters), kpis=kpis, monthly=monthly, cohorts=cohorts, headline=headline,
        year_on_year=findings.year_on_year(headline), levers=findings.lever_findings(lever_table),
        lever_accounts=None if lever_table.empty else int(lever_table.accounts.max()),
        survival_line=findings.survival_finding(survival.summary_),
        source_note=findings.findings_source_note(bool(filters), False, bool(scope.scope())),
        structure_line=structure_view.structure_note(data.causal_structure(con)),
        effect_lines=findings.service_findings(effects), has_churn_reasons=has_reasons, cause_split=split,
        cause_line=cause_line)


def forecast_view(con: duckdb.DuckDBPyConnection, info: dict, filters: Filters) -> ForecastView:
    """The build's forecast of every account, or the selection's own (a simulation of seconds on a large build)."""
    try:
        forecast, stored_info = data.cached_forecast(con, info["build_id"], filters)
    except ValueError as error:  # e.g. no account active at the as-of date among the selected ones
        return ForecastView(None, missing_reason=str(error))
    sentence = findings.forecast_sentence(forecast)
    if forecast is None or sentence is None:
        return ForecastView(None, missing_reason="the build stored none; rebuild it")
    return ForecastView(forecast, stored_info or {}, sentence, findings.forecast_cause_sentence(forecast))


@dataclass(frozen=True)
class InvestmentCase:
    """A what-if of the investment page: what changing service factors keeps, what it costs and pays back, what the
    estimate rests on, and (with churn reasons) its split by cause."""

    info: dict
    filters: Filters
    changes: tuple[tuple[str, str], ...]  # (factor, change text as the what-if reads it)
    horizon_days: int
    result: dict
    economics: dict
    calibration: dict  # investment_view.calibration_check: text, missed
    tiles: list[dict]
    factor_effects: pd.DataFrame
    stability: pd.DataFrame
    evidence: list[str]
    tail: str | None
    structure_line: str
    has_churn_reasons: bool
    cause_result: dict | None
    cause_problem: str | None  # why the split by cause could not be made

    @property
    def rests_on(self) -> list[str]:
        """What the estimate rests on, as the Markdown summary lists it."""
        return [self.calibration["text"], *self.evidence, *([self.tail] if self.tail else []), self.structure_line]


def investment_case(con: duckdb.DuckDBPyConnection, info: dict, changes: tuple[tuple[str, str], ...],
                    horizon_days: int, yearly_cost: float | None, filters: Filters) -> InvestmentCase:
    """The case for `changes` over `horizon_days` among the accounts `filters` selects (ValueError when the what-if
    cannot be made: no account, no model of a factor, a change it cannot read)."""
    build_id = info["build_id"]
    filters = scope.scoped(tuple(filters))  # what the queries narrow to anyway, so the brief names the scope too
    result = data.cached_whatif(con, build_id, tuple(changes), horizon_days, filters)
    economics = investment_view.roi(result, yearly_cost)
    own_effects, stability = data.cached_factor_effects(con, build_id)
    has_reasons = bool(data.build_has_churn_reasons(con, build_id))
    cause_result = cause_problem = None
    if has_reasons:
        try:
            cause_result = data.cached_cause_whatif(con, build_id, tuple(changes), horizon_days, filters)
        except ValueError as error:
            cause_problem = str(error)
    return InvestmentCase(
        info=info, filters=tuple(filters), changes=tuple(changes), horizon_days=horizon_days, result=result,
        economics=economics, calibration=investment_view.calibration_check(result),
        tiles=investment_view.tiles(result, economics), factor_effects=own_effects, stability=stability,
        evidence=investment_view.evidence_lines(result, own_effects), tail=investment_view.tail_line(result),
        structure_line=structure_view.structure_note(data.causal_structure(con)), has_churn_reasons=has_reasons,
        cause_result=cause_result, cause_problem=cause_problem)
