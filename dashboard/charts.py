"""Pure figure builders: a long-format DataFrame in, a plotly figure out; no I/O, no Streamlit.

The same keyword means the same thing everywhere (`color` is the grouping column, `title` the
figure title). Number formats: money as $1.2M, shares as 93.4%.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TEMPLATE = "plotly_white"
PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"]
PILLAR_COLORS = {
    "quick": "#2563eb",
    "competent": "#9333ea",
    "complete resolution": "#16a34a",
    "courteous": "#ea580c",
    "keep me informed": "#0891b2",
    "pattern": "#dc2626",
    "control": "#6b7280",
    "account": "#6b7280",
    "missing indicator": "#9ca3af",
}


def money(value: float | None, digits: int = 1) -> str:
    """$1.2M, $340K, $950; an em dash for a missing value. With more `digits`, more decimals in the same unit ($1.25M;
    under a thousand, one fewer: $950.5), for values closer together than a tenth of their unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    sign = "-" if value < 0 else ""
    value = abs(value)
    # round first, so 999,999 reads $1.0M rather than $1000.0K
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if round(value / threshold, 1) >= 1:
            return f"{sign}${value / threshold:.{digits}f}{suffix}"
    return f"{sign}${value:,.{max(digits - 1, 0)}f}"


def percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:.{digits}f}%"


def _layout(fig: go.Figure, title: str | None, height: int = 420) -> go.Figure:
    # the legend sits under the plot so it never collides with the title
    fig.update_layout(template=TEMPLATE, title=title, height=height, margin=dict(l=60, r=20, t=50 if title else 20, b=90),
                      legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0))
    return fig


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14), x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, None, height=240)


def mark_changes(fig: go.Figure, changes: pd.DataFrame | None, first, last) -> go.Figure:
    """A dotted vertical line at each recorded change (`changes`: name, date) between `first` and `last`, named at
    the top: a reader sees what happened when a trend turned, without the chart claiming why."""
    if changes is None or changes.empty:
        return fig
    for change in changes.itertuples():
        when = pd.Timestamp(change.date)
        if pd.Timestamp(first) <= when <= pd.Timestamp(last):
            fig.add_vline(x=when.timestamp() * 1000, line=dict(color="#6b7280", dash="dot", width=1),
                          annotation_text=textwrap.shorten(str(change.name), 28, placeholder="…"),
                          annotation_position="top left", annotation_font=dict(size=11, color="#374151"))
    return fig


def retention_trend(kpi: pd.DataFrame, title: str | None = "Revenue retention by month",
                    changes: pd.DataFrame | None = None) -> go.Figure:
    """One line per measure (gross and net revenue retention), one point per month; the recorded `changes` (name,
    date) marked where they fall."""
    data = kpi.dropna(subset=["gross_revenue_retention"])
    if data.empty:
        return empty_figure("No months with starting revenue yet.")
    fig = go.Figure()
    for column, name, color in (("net_revenue_retention", "Net revenue retention", PALETTE[0]),
                                ("gross_revenue_retention", "Gross revenue retention", PALETTE[1])):
        fig.add_trace(go.Scatter(x=data.month_start, y=data[column], name=name, mode="lines+markers",
                                 line=dict(color=color), hovertemplate="%{x|%b %Y}: %{y:.1%}<extra>" + name + "</extra>"))
    fig.update_yaxes(title="Share of starting MRR kept in the month", tickformat=".0%")
    fig.update_xaxes(title="Month")
    mark_changes(fig, changes, data.month_start.min(), data.month_start.max())
    return _layout(fig, title)


def cohort_heatmap(cohorts: pd.DataFrame, value: str = "retained_account_share",
                   title: str | None = "Cohort retention") -> go.Figure:
    """One cell per signup cohort (row) and month since signup (column), coloured by the retained share."""
    if cohorts.empty:
        return empty_figure("No fully observed cohort months yet.")
    grid = cohorts.pivot(index="cohort_month", columns="months_since_signup", values=value).sort_index(ascending=False)
    labels = [pd.Timestamp(m).strftime("%Y-%m") for m in grid.index]
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=list(grid.columns), y=labels, colorscale="Blues", zmin=0,
        zmax=max(1.0, float(np.nanmax(grid.to_numpy()))),
        colorbar=dict(title="retained", tickformat=".0%"),
        hovertemplate="cohort %{y}, month %{x}: %{z:.1%}<extra></extra>",
    ))
    fig.update_xaxes(title="Months since signup")
    fig.update_yaxes(title="Signup cohort", type="category")
    return _layout(fig, title, height=max(360, 14 * len(labels) + 120))


# The survival chart's parts in pixels: the curves, one line of at-risk counts per group (and one of air, so the
# top group's counts never sit under the curves' axis), and what the title, axis and legend take around them.
CURVES_PX, AT_RISK_LINE_PX, FRAME_PX = 330, 18, 150


def survival_curves(curves: pd.DataFrame, color: str = "group", y: str = "survival",
                    title: str | None = "Share of accounts still customers", at_risk_ticks: int = 6,
                    y_title: str = "Still a customer") -> go.Figure:
    """One step line per group over days since signup, a shaded 95% band where the curves carry one, and the
    accounts at risk in a row under the axis where they carry `at_risk` (a revenue curve carries neither)."""
    if curves.empty:
        return empty_figure("No accounts match the filters.")
    groups = list(dict.fromkeys(curves[color]))
    counted = "at_risk" in curves.columns
    rows = 2 if counted else 1
    at_risk_px = AT_RISK_LINE_PX * (len(groups) + 1) if counted else 0
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[CURVES_PX, at_risk_px] if counted else None)
    max_day = float(curves.time_days.max())
    ticks = np.linspace(0, max_day, at_risk_ticks).round()
    for i, group in enumerate(groups):
        data = curves[curves[color] == group].sort_values("time_days")
        tint = PALETTE[i % len(PALETTE)]
        if {"ci_lower", "ci_upper"} <= set(data.columns):
            fig.add_trace(go.Scatter(x=data.time_days, y=data.ci_upper, line=dict(width=0, shape="hv"),
                                     showlegend=False, hoverinfo="skip"), row=1, col=1)
            fig.add_trace(go.Scatter(x=data.time_days, y=data.ci_lower, line=dict(width=0, shape="hv"), fill="tonexty",
                                     fillcolor=_with_alpha(tint, 0.15), showlegend=False, hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=data.time_days, y=data[y], name=str(group), line=dict(color=tint, shape="hv"),
                                 showlegend=len(groups) > 1,
                                 hovertemplate="day %{x}: %{y:.1%}<extra>" + str(group) + "</extra>"), row=1, col=1)
        if counted:
            counts = _at_risk_at(data, ticks)
            fig.add_trace(go.Scatter(x=ticks, y=[str(group)] * len(ticks), mode="text", text=[f"{c:,}" for c in counts],
                                     textfont=dict(color=tint, size=11), showlegend=False, hoverinfo="skip"), row=2, col=1)
    fig.update_yaxes(title=y_title, tickformat=".0%", range=[0, 1.02], row=1, col=1)
    if counted:
        fig.update_yaxes(title="At risk", showgrid=False, row=2, col=1, type="category",
                         range=[-0.7, len(groups) - 0.3])
    # the bottom row carries the day axis: under the at-risk counts, or under the curves themselves
    fig.update_xaxes(title="Days since signup", row=rows, col=1, tickvals=ticks, tickformat=",d", showticklabels=True)
    return _layout(fig, title, height=CURVES_PX + at_risk_px + FRAME_PX)


# Causes a reasons file always knows keep their colours in every chart; an analyst's own causes take the palette's
# others in turn, and a churn with no reason is grey, as what is left over.
CAUSE_COLORS = {"voluntary": PALETTE[0], "involuntary": PALETTE[1], "unknown": "#9ca3af"}
CAUSE_PANEL_COLUMNS, CAUSE_PANEL_PX = 3, 280


def cause_incidence(incidence: pd.DataFrame, color: str = "cause", facet: str = "group",
                    labels: dict[str, str] | None = None,
                    title: str | None = "Share of accounts churned, by cause") -> go.Figure:
    """One stacked area per cause over days since signup: each cause's cumulative incidence laid on the causes
    before it, so the top edge is all churn and the white above it the share still a customer; the cause's own 95%
    band is shaded around its layer's edge. One panel per `facet` value (one panel when there is one value).

    `incidence` is CumulativeIncidence's long table (facet, color, time_days, cumulative_incidence, ci_lower,
    ci_upper), causes stacked in the order they first appear; `labels` gives each cause's and panel's words
    (default: as they are)."""
    if incidence.empty:
        return empty_figure("No churned accounts to split by cause.")
    labels = labels or {}
    panels = list(dict.fromkeys(incidence[facet]))
    causes = list(dict.fromkeys(incidence[color]))
    n_cols = min(len(panels), CAUSE_PANEL_COLUMNS)
    n_rows = math.ceil(len(panels) / n_cols)
    titles = [labels.get(str(p), str(p)) for p in panels] if len(panels) > 1 else None
    fig = make_subplots(rows=n_rows, cols=n_cols, shared_yaxes=True, subplot_titles=titles,
                        horizontal_spacing=0.04, vertical_spacing=0.14 if n_rows > 1 else 0.0)
    others = iter([c for c in PALETTE if c not in CAUSE_COLORS.values()] * len(causes))
    tints = {cause: CAUSE_COLORS.get(str(cause)) or next(others) for cause in causes}
    top = 0.0
    for i, panel in enumerate(panels):
        row, col = i // n_cols + 1, i % n_cols + 1
        data = incidence[incidence[facet] == panel]
        # every layer on one grid of days, so each stacks on the step value of the layers below at the same day
        days = np.unique(data.time_days.to_numpy())
        below = np.zeros(len(days))
        bands = []
        for k, cause in enumerate(causes):
            rows = data[data[color] == cause].sort_values("time_days")
            share, lower, upper = (_step_on(days, rows.time_days.to_numpy(), rows[column].to_numpy(dtype=float))
                                   for column in ("cumulative_incidence", "ci_lower", "ci_upper"))
            name = labels.get(str(cause), str(cause))
            fig.add_trace(go.Scatter(
                x=days, y=below + share, name=name, legendgroup=str(cause), showlegend=i == 0,
                mode="lines", line=dict(color=tints[cause], width=1.5, shape="hv"),
                fill="tozeroy" if k == 0 else "tonexty", fillcolor=_with_alpha(tints[cause], 0.45),
                # the layer's own share, not its stacked height, is what the reader hovers for
                customdata=np.column_stack([share, lower, upper]),
                hovertemplate=("day %{x:,d}: %{customdata[0]:.1%} (95% CI %{customdata[1]:.1%}–%{customdata[2]:.1%})"
                               f"<extra>{name}</extra>"),
            ), row=row, col=col)
            bands.append((cause, below + lower, below + upper))
            below = below + share
        # after every layer, so each layer's fill reaches down to the layer before it rather than to a band
        for cause, lower, upper in bands:
            fig.add_trace(go.Scatter(x=days, y=upper, mode="lines", line=dict(width=0, shape="hv"),
                                     legendgroup=str(cause), showlegend=False, hoverinfo="skip"), row=row, col=col)
            fig.add_trace(go.Scatter(x=days, y=lower, mode="lines", line=dict(width=0, shape="hv"), fill="tonexty",
                                     fillcolor=_with_alpha(tints[cause], 0.35), legendgroup=str(cause),
                                     showlegend=False, hoverinfo="skip"), row=row, col=col)
            top = max(top, float(np.nanmax(upper, initial=0.0)))
        # the day axis is named under the lowest panel of each column
        if i + n_cols >= len(panels):
            fig.update_xaxes(title="Days since signup", row=row, col=col)
    fig.update_yaxes(tickformat=".0%", range=[0, min(1.0, top * 1.08) or 1.0])
    fig.update_yaxes(title="Share of accounts churned (%)", col=1)
    fig.update_xaxes(tickformat=",d", range=[0, float(incidence.time_days.max()) or 1.0])
    fig = _layout(fig, title, height=max(420, CAUSE_PANEL_PX * n_rows + FRAME_PX))
    if titles and title:  # room for the panels' titles under the figure's own
        fig.update_layout(margin=dict(t=90))
    return fig


def _step_on(days: np.ndarray, times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A right-continuous step function given at `times` (ascending), read at `days`; 0 before its first time."""
    at = np.searchsorted(times, days, side="right") - 1
    return np.where(at >= 0, values[np.clip(at, 0, None)] if len(values) else 0.0, 0.0)


def _at_risk_at(curve: pd.DataFrame, ticks: np.ndarray) -> np.ndarray:
    """Accounts still followed at each tick: at risk at the last curve time at or before it, less those
    who churned or were censored at that time when it lies strictly before the tick."""
    times = curve.time_days.to_numpy()
    at_risk = curve.at_risk.to_numpy()
    left = (curve.events.to_numpy() + curve.censored.to_numpy()) if {"events", "censored"} <= set(curve.columns) \
        else np.zeros(len(curve), dtype=int)
    positions = np.clip(np.searchsorted(times, ticks, side="right") - 1, 0, len(times) - 1)
    return np.where(times[positions] < ticks, at_risk[positions] - left[positions], at_risk[positions])


def _with_alpha(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# A row label wider than this wraps onto further lines: unwrapped, a few long labels (a missing-measure indicator
# naming five measures) take most of the width and leave the plot a sliver beside them.
LABEL_WRAP_CHARACTERS = 56
FOREST_ROW_PX, FOREST_LINE_PX, FOREST_FRAME_PX = 28, 15, 140
# Hazard ratios a log axis is labelled at: plotly's own labels over more than a decade read 0.3 as "3"
RATIO_TICKS = (0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 10, 20)


def wrapped_label(text: str, width: int = LABEL_WRAP_CHARACTERS) -> str:
    """`text` on lines of at most `width` characters (words kept whole), joined by plotly's line break."""
    return "<br>".join(textwrap.wrap(str(text), width)) or str(text)


def forest_height(labels: list[str]) -> int:
    """Pixels for a forest plot of these row labels: the rows are evenly spaced, so each gets the room of the
    label that wraps onto the most lines."""
    extra_lines = max((wrapped_label(label).count("<br>") for label in labels), default=0)
    return max(360, (FOREST_ROW_PX + FOREST_LINE_PX * extra_lines) * len(labels) + FOREST_FRAME_PX)


def ratio_ticks(low: float, high: float) -> list[float]:
    """The RATIO_TICKS within [low, high], and 1 always."""
    return sorted({t for t in RATIO_TICKS if low <= t <= high} | {1})


def forest_plot(effects: pd.DataFrame, title: str | None = "Churn hazard ratio per unit (95% CI)",
                y: str = "term") -> go.Figure:
    """One marker per model term at its hazard ratio with its 95% interval, grouped by pillar, log scale;
    `y` names the column that labels each row (long labels wrap; the figure grows with its rows and lines)."""
    if effects.empty:
        return empty_figure("The drivers model has no terms to show.")
    data = effects.iloc[::-1]
    fig = go.Figure()
    for pillar, rows in data.groupby("pillar", sort=False):
        fig.add_trace(go.Scatter(
            x=rows.hazard_ratio, y=rows[y], mode="markers", name=pillar,
            marker=dict(color=PILLAR_COLORS.get(pillar, "#374151"), size=9),
            error_x=dict(type="data", symmetric=False, array=rows.ci_upper - rows.hazard_ratio,
                         arrayminus=rows.hazard_ratio - rows.ci_lower),
            customdata=np.column_stack([rows.ci_lower, rows.ci_upper, rows.unit]),
            hovertemplate="%{y}: %{x:.2f} (95% CI %{customdata[0]:.2f}–%{customdata[1]:.2f})<br>%{customdata[2]}<extra></extra>",
        ))
    fig.add_vline(x=1.0, line=dict(color="#6b7280", dash="dash"))
    fig.update_layout(legend=dict(traceorder="reversed"))  # pillars listed top to bottom as the rows are
    fig.update_xaxes(type="log", title="Hazard ratio (1 = no association; >1 more churn)")
    ticks = ratio_ticks(float(data.ci_lower.min()), float(data.ci_upper.max()))
    if len(ticks) >= 3:  # a narrow range reads well enough in plotly's own labels
        fig.update_xaxes(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    labels = list(data[y])
    fig.update_yaxes(title=None, categoryorder="array", categoryarray=labels, tickmode="array", tickvals=labels,
                     ticktext=[wrapped_label(label) for label in labels], automargin=True)
    fig = _layout(fig, title, height=forest_height(labels))
    fig.update_layout(legend=dict(traceorder="reversed"))
    return fig


def quartile_churn(quartiles: pd.DataFrame, measure_label: str,
                   title: str | None = "Monthly churn rate by quartile") -> go.Figure:
    """One bar per quartile of a measure: the monthly churn rate of its account-months, with a 95% interval."""
    if quartiles.empty:
        return empty_figure("No account-months have this measure.")
    labels = [f"Q{q}: {lo:.3g}–{hi:.3g}" for q, lo, hi in zip(quartiles.quartile, quartiles.measure_low, quartiles.measure_high)]
    fig = go.Figure(go.Bar(
        x=labels, y=quartiles.monthly_churn_rate, marker_color=PALETTE[0],
        error_y=dict(type="data", symmetric=False, array=quartiles.ci_upper - quartiles.monthly_churn_rate,
                     arrayminus=quartiles.monthly_churn_rate - quartiles.ci_lower),
        hovertemplate="%{x}: %{y:.2%} a month<extra></extra>",
    ))
    fig.update_yaxes(title="Churned in the month", tickformat=".1%")
    fig.update_xaxes(title=f"Quartile of {measure_label}")
    return _layout(fig, title)


def calibration(table: pd.DataFrame, horizon_days: int, title: str | None = "Calibration on the holdout") -> go.Figure:
    """One point per risk decile: mean predicted vs observed churn over the horizon, with the observed 95%
    interval."""
    if table.empty:
        return empty_figure("No holdout calibration for this build.")
    top = float(max(table.predicted_mean.max(), table.observed_ci_upper.max())) * 1.05
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfect calibration",
                             line=dict(color="#9ca3af", dash="dash")))
    fig.add_trace(go.Scatter(
        x=table.predicted_mean, y=table.observed_rate, mode="markers+lines", name="risk deciles",
        marker=dict(size=9, color=PALETTE[0]),
        error_y=dict(type="data", symmetric=False, array=table.observed_ci_upper - table.observed_rate,
                     arrayminus=table.observed_rate - table.observed_ci_lower),
        hovertemplate="predicted %{x:.1%}, observed %{y:.1%}<extra></extra>",
    ))
    fig.update_xaxes(title=f"Predicted {horizon_days}-day churn", tickformat=".0%")
    fig.update_yaxes(title=f"Observed {horizon_days}-day churn", tickformat=".0%")
    return _layout(fig, title)


def kept_interval(label: str, estimate: float, lower: float, upper: float, money_axis: bool,
                  title: str | None = None) -> go.Figure:
    """One horizontal bar at the estimate with its 95% interval (accounts or ARR kept by a change)."""
    fig = go.Figure(go.Bar(
        x=[estimate], y=[label], orientation="h", marker_color=PALETTE[2] if estimate >= 0 else PALETTE[1],
        error_x=dict(type="data", symmetric=False, array=[upper - estimate], arrayminus=[estimate - lower]),
        hovertemplate=(money(estimate) if money_axis else f"{estimate:,.1f}") + "<extra></extra>",
    ))
    fig.add_vline(x=0, line=dict(color="#6b7280"))
    fig.update_xaxes(title="ARR kept a year ($)" if money_axis else "Accounts kept", tickprefix="$" if money_axis else "")
    return _layout(fig, title, height=200)


# The latest period is drawn in the first colour, the periods it is compared with in grey.
EARLIER_PERIOD_COLOR = "#9ca3af"


def churn_by_cause(totals: pd.DataFrame, x: str = "churn_cause", color: str = "period",
                   labels: dict[str, str] | None = None,
                   title: str | None = "Churn by cause: last 12 months against a year earlier") -> go.Figure:
    """One bar per `x` value (a cause) per `color` value (a period), the periods side by side, in two panels:
    churned accounts on the left and churned MRR on the right. `totals` has the columns churned_accounts and
    churned_mrr beside `x` and `color`; the causes and periods keep the order they first appear in, the last period
    in colour and the others in grey; `labels` gives each cause's words (default: as they are)."""
    if totals.empty:
        return empty_figure("No churned accounts in these months.")
    labels = labels or {}
    causes = list(dict.fromkeys(totals[x]))
    periods = list(dict.fromkeys(totals[color]))
    names = [wrapped_label(labels.get(str(c), str(c)), 22) for c in causes]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Churned accounts", "Churned MRR ($)"),
                        horizontal_spacing=0.12)
    for period in periods:
        rows = totals[totals[color] == period].set_index(x).reindex(causes)
        tint = PALETTE[0] if period == periods[-1] else EARLIER_PERIOD_COLOR
        for col, column, value_format in ((1, "churned_accounts", "%{y:,d} accounts"),
                                          (2, "churned_mrr", "$%{y:,.0f} of MRR")):
            fig.add_trace(go.Bar(
                x=names, y=rows[column].fillna(0), name=str(period), legendgroup=str(period), showlegend=col == 1,
                marker_color=tint, hovertemplate=f"%{{x}}<br>{period}: {value_format}<extra></extra>",
            ), row=1, col=col)
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="Churned accounts", tickformat=",d", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="Churned MRR ($)", tickprefix="$", tickformat="~s", rangemode="tozero", row=1, col=2)
    return _layout(fig, title)


# How the forecast's parts are told apart: the history and the forecast of all accounts in the first colour, today's
# accounts alone dashed beside it, the intervals as bands of the first colour.
FAN_BANDS = (("95", 0.12, "95% interval"), ("80", 0.25, "80% interval"))


def forecast_fan(history: pd.DataFrame, forecast: pd.DataFrame, measure: str, base_measure: str, start: tuple,
                 money_axis: bool, title: str | None = None, with_change: pd.DataFrame | None = None,
                 changes: pd.DataFrame | None = None) -> go.Figure:
    """Where a measure is heading: `history` (columns date, value: what happened, month by month) as a line, then
    from `start` (as-of date, value then) the forecast of `measure` with its 80% and 95% bands and, dashed, the
    forecast of `base_measure` (the part of it that is today's accounts; the gap between the two lines is new
    business). `forecast` is the stored long frame (month_end, measure, estimate, lower_80 … upper_95);
    `with_change`, in the same shape, adds the forecast of `measure` with a what-if's change as a line of its own;
    the recorded `changes` (name, date) are marked where they fall in the history."""
    total = forecast[forecast.measure == measure].sort_values("month_end")
    if total.empty:
        return empty_figure("No forecast for this measure.")
    base = forecast[forecast.measure == base_measure].sort_values("month_end")
    value_format = "$%{y:,.0f}" if money_axis else "%{y:,.0f}"
    start_date, start_value = pd.Timestamp(start[0]), float(start[1])
    x = [start_date] + list(pd.to_datetime(total.month_end))
    fig = go.Figure()
    for level, alpha, name in FAN_BANDS:
        fig.add_trace(go.Scatter(x=x, y=[start_value] + list(total[f"upper_{level}"]), mode="lines",
                                 line=dict(width=0), showlegend=False, hoverinfo="skip", legendgroup=name))
        fig.add_trace(go.Scatter(x=x, y=[start_value] + list(total[f"lower_{level}"]), mode="lines",
                                 line=dict(width=0), fill="tonexty", fillcolor=_with_alpha(PALETTE[0], alpha),
                                 name=name, legendgroup=name, hoverinfo="skip"))
    if not history.empty:
        fig.add_trace(go.Scatter(x=pd.to_datetime(history.date), y=history.value, name="What happened",
                                 mode="lines", line=dict(color="#374151"),
                                 hovertemplate="%{x|%d %b %Y}: " + value_format + "<extra>what happened</extra>"))
    interval = (" (80%: " + ("$%{customdata[0]:,.0f}–$%{customdata[1]:,.0f}" if money_axis
                             else "%{customdata[0]:,.0f}–%{customdata[1]:,.0f}") + ")")
    bounds = [[start_value, start_value]] + total[["lower_80", "upper_80"]].to_numpy().tolist()
    fig.add_trace(go.Scatter(
        x=x, y=[start_value] + list(total.estimate), name="Forecast, all accounts", mode="lines+markers",
        line=dict(color=PALETTE[0]), customdata=bounds,
        hovertemplate="%{x|%d %b %Y}: " + value_format + interval + "<extra>forecast</extra>"))
    if not base.empty:
        fig.add_trace(go.Scatter(
            x=[start_date] + list(pd.to_datetime(base.month_end)), y=[start_value] + list(base.estimate),
            name="of which today's accounts (the gap above is new business)", mode="lines",
            line=dict(color=PALETTE[0], dash="dash"),
            hovertemplate="%{x|%d %b %Y}: " + value_format + "<extra>today's accounts</extra>"))
    changed = None if with_change is None else with_change[with_change.measure == measure].sort_values("month_end")
    if changed is not None and not changed.empty:
        fig.add_trace(go.Scatter(
            x=[start_date] + list(pd.to_datetime(changed.month_end)), y=[start_value] + list(changed.estimate),
            name="With the change", mode="lines+markers", line=dict(color=PALETTE[2]),
            customdata=[[start_value, start_value]] + changed[["lower_80", "upper_80"]].to_numpy().tolist(),
            hovertemplate="%{x|%d %b %Y}: " + value_format + interval + "<extra>with the change</extra>"))
    fig.update_yaxes(title="MRR ($)" if money_axis else "Active accounts", tickprefix="$" if money_axis else "",
                     tickformat="~s" if money_axis else ",d")
    fig.update_xaxes(title="Month")
    if not history.empty:
        mark_changes(fig, changes, pd.to_datetime(history.date).min(), start_date)
    return _layout(fig, title)


def event_study(months: pd.DataFrame, title: str | None = "Churn month by month around the change (95% interval)"
                ) -> go.Figure:
    """One point per month from the change (`months_from_change`) at its hazard ratio (`estimate`) against the month
    before the change, with its interval (`ci_lower`, `ci_upper`); 1 is no difference, the change falls between −1
    and 0."""
    if months.empty:
        return empty_figure("Too few months around the change to show them one by one")
    fig = go.Figure(go.Scatter(
        x=months.months_from_change, y=months.estimate, mode="markers", marker=dict(color=PALETTE[0], size=8),
        error_y=dict(type="data", symmetric=False, array=months.ci_upper - months.estimate,
                     arrayminus=months.estimate - months.ci_lower, color=_with_alpha(PALETTE[0], 0.5)),
        customdata=np.c_[months.ci_lower, months.ci_upper], name="hazard ratio",
        hovertemplate="month %{x:+d}: %{y:.2f} (%{customdata[0]:.2f} to %{customdata[1]:.2f})<extra></extra>"))
    fig.add_hline(y=1, line=dict(color="#6b7280", dash="dot"))
    fig.add_vline(x=-0.5, line=dict(color=PALETTE[1], dash="dash"), annotation_text="change",
                  annotation_position="top")
    fig.update_yaxes(type="log", title="Churn hazard ratio (against the month before)")
    fig.update_xaxes(title="Months from the change", dtick=1 if len(months) <= 24 else 3)
    return _layout(fig, title, height=380)


def measure_by_month(series: pd.DataFrame, measure_label: str, change_date, color: str = "group",
                     title: str | None = None) -> go.Figure:
    """One line per group (`color`: the reached accounts and the others) of a service measure's monthly average
    (`value`) with its interval as a band (`ci_lower`, `ci_upper`), and the change's date marked."""
    fig = go.Figure()
    for index, (group, rows) in enumerate(series.groupby(color, sort=False)):
        shade = PALETTE[index % len(PALETTE)]
        fig.add_trace(go.Scatter(x=pd.concat([rows.month_start, rows.month_start[::-1]]),
                                 y=pd.concat([rows.ci_upper, rows.ci_lower[::-1]]), fill="toself",
                                 fillcolor=_with_alpha(shade, 0.15), line=dict(width=0), hoverinfo="skip",
                                 showlegend=False))
        fig.add_trace(go.Scatter(x=rows.month_start, y=rows.value, mode="lines+markers", name=f"{group} accounts",
                                 line=dict(color=shade), hovertemplate="%{x|%b %Y}: %{y:.3g}<extra>" + f"{group}</extra>"))
    fig.add_vline(x=pd.Timestamp(change_date).timestamp() * 1000, line=dict(color=PALETTE[1], dash="dash"),
                  annotation_text="change", annotation_position="top")
    fig.update_yaxes(title=measure_label, rangemode="tozero")
    return _layout(fig, title or f"{measure_label} by month (95% interval)", height=360)
