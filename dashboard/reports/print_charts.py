"""The PDF briefs' charts: the app's retention trend, cohort heatmap, forecast fan and kept-interval bar, drawn
for print as inline SVG text (`<svg …>…</svg>`, no XML prolog) that WeasyPrint lays into a page.

Pure functions: a DataFrame in, SVG text out; no Streamlit, no I/O. They look like `dashboard.charts`' plotly
figures (its colours, titles, axis titles and number formats, imported from there so the two cannot drift apart),
but are drawn with matplotlib: plotly's static export needs a Chrome, while matplotlib draws SVG in-process and
offline, a chart in 0.1–0.3 s.

Several app sessions may make briefs at once, so nothing here touches `matplotlib.pyplot`'s global figures: each
chart is its own `Figure` on its own SVG canvas, and its fonts, sizes and colours are set on the artists themselves
rather than through rcParams. The two settings that exist only as process-wide rcParams (text kept as <text> rather
than glyph paths, and a fixed salt for the SVG's element ids) are set with `rc_context` around the save, under a
lock: `rc_context` is not thread-safe, since each use restores on exit the rcParams it found on entry, so two
overlapping saves can switch the settings back under each other mid-draw (text drawn as paths a PDF text extractor
cannot read) or leave the process with them set for good.
"""

from __future__ import annotations

import io
import math
import textwrap
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import Formatter
from matplotlib.typing import RcKeyType

from dashboard.charts import FAN_BANDS, PALETTE, money, percent

# An A4 page's text width (21 cm less two 2 cm margins), so a chart fills the column at its drawn size.
PRINT_WIDTH_IN = 6.7
FONT_FAMILY = ["DejaVu Sans", "sans-serif"]
# plotly_white's text and grid colours, so a printed chart reads like the app's
INK = "#2a3f5f"
GRID = "#ebf0f8"
HISTORY_COLOR = "#374151"
ZERO_LINE_COLOR = "#6b7280"
TITLE_PT, AXIS_TITLE_PT, TICK_PT = 11.0, 9.0, 8.0

# The saved SVG keeps its text as <text> (a PDF made from it is searchable and its numbers can be read back) and
# names its clip paths and markers from a fixed salt rather than a random one, so the same chart is the same text.
SVG_SETTINGS: dict[RcKeyType, Any] = {"svg.fonttype": "none", "svg.hashsalt": "dashboard.reports.print_charts"}
# No creator, date or format block: the date would make every save differ and the block is noise inlined in HTML.
SVG_METADATA: dict[str, Any] = {"Creator": None, "Date": None, "Format": None, "Type": None}
_RC_PARAMS_LOCK = threading.Lock()

# A cohort label every this many points down the heatmap at the least, so 36+ cohorts' labels never overlap.
COHORT_LABEL_PITCH_PT = TICK_PT * 1.5
COHORT_ROW_IN = 0.16
# Room the heatmap's title, month axis and margins take above and below its rows.
HEATMAP_FRAME_IN = 1.3
MAX_HEATMAP_HEIGHT_IN = 8.0
MONTH_TICK_INTERVALS = (1, 2, 3, 4, 6, 12)
MAX_MONTH_TICKS = 8
MAX_MONTH_COLUMN_TICKS = 12
KEPT_LABEL_WRAP_CHARACTERS = 28
# A legend column takes at least this much of the chart's width; the marker and gap before a label take the second.
LEGEND_COLUMN_MIN_IN, LEGEND_MARKER_IN = 2.0, 0.45
# A month label ("Jan 2027") and the air around it take about this much of the axis.
MONTH_LABEL_IN = 0.8

_TEXT: dict[str, Any] = {"fontfamily": FONT_FAMILY, "color": INK, "parse_math": False}


# --- number formats on an axis ----------------------------------------------------------------------------------

def _count(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


class DistinctTickLabels(Formatter):
    """Tick labels in one of the app's number formats with the fewest decimals that keep every tick's label
    different from its neighbours' ($4.0M, $4.1M; or $4.05M, $4.10M when the ticks are that close)."""

    def __init__(self, label: Callable[[float, int], str], fewest_digits: int) -> None:
        self.label = label
        self.fewest_digits = fewest_digits

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.label(x, self.fewest_digits)

    def format_ticks(self, values: Sequence[float] | np.ndarray) -> list[str]:
        labels: list[str] = []
        for digits in range(self.fewest_digits, self.fewest_digits + 4):
            labels = [self.label(float(v), digits) for v in values]
            if len(set(labels)) == len(labels):
                break
        return labels


def money_ticks() -> DistinctTickLabels:
    return DistinctTickLabels(money, 1)


def share_ticks() -> DistinctTickLabels:
    return DistinctTickLabels(percent, 0)


def count_ticks() -> DistinctTickLabels:
    return DistinctTickLabels(_count, 0)


# --- figure, axes and SVG -------------------------------------------------------------------------------------

def _figure(width_in: float, height_in: float) -> Figure:
    # constrained layout makes room for the title, axis titles and the legend below instead of clipping them
    figure = Figure(figsize=(width_in, height_in), layout="constrained", facecolor="white")
    FigureCanvasSVG(figure)
    return figure


def _style_axes(axes: Axes, value_axis: Literal["x", "y"] | None = "y") -> None:
    """plotly_white's look: no box, a light grid across the value axis, small grey-blue tick labels."""
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(GRID)
    axes.tick_params(labelsize=TICK_PT, labelcolor=INK, labelfontfamily=FONT_FAMILY, color=GRID)
    if value_axis:
        axes.grid(True, axis=value_axis, color=GRID, linewidth=0.8)
        axes.set_axisbelow(True)


def _titles(axes: Axes, title: str | None, x_title: str | None, y_title: str | None) -> None:
    if title:
        axes.set_title(title, loc="left", fontsize=TITLE_PT, pad=10, **_TEXT)
    if x_title:
        axes.set_xlabel(x_title, fontsize=AXIS_TITLE_PT, **_TEXT)
    if y_title:
        axes.set_ylabel(y_title, fontsize=AXIS_TITLE_PT, **_TEXT)


def _legend_below(figure: Figure, handles: Sequence[Artist], columns: int) -> None:
    """Under the plot, as the app's, so it never covers a line or collides with the title; on a narrow chart in
    fewer columns, each label wrapped to its column's width, so no label runs past the chart's edge."""
    width_in = float(figure.get_figwidth())
    columns = max(1, min(columns, int(width_in // LEGEND_COLUMN_MIN_IN)))
    # the room a label has beside its marker, in characters of the legend's size (a character is about 0.55 em)
    characters = max(12, int((width_in / columns - LEGEND_MARKER_IN) * 72 / (TICK_PT * 0.55)))
    labels = [textwrap.fill(str(handle.get_label()), characters) for handle in handles]
    figure.legend(handles=list(handles), labels=labels, loc="outside lower left", ncols=columns, frameon=False,
                  prop={"family": FONT_FAMILY, "size": TICK_PT}, labelcolor=INK)


def _svg(figure: Figure) -> str:
    """The figure as an inline <svg> element, sized in pt so WeasyPrint prints it at its drawn size."""
    buffer = io.StringIO()
    with _RC_PARAMS_LOCK, matplotlib.rc_context(SVG_SETTINGS):
        figure.savefig(buffer, format="svg", metadata=SVG_METADATA)
    text = buffer.getvalue()
    return text[text.index("<svg"):].strip()


def empty_svg(message: str, width_in: float = PRINT_WIDTH_IN) -> str:
    """A small chart-sized box that says why there is no chart, like the app's empty figure."""
    figure = Figure(figsize=(width_in, 1.2), facecolor="white")
    FigureCanvasSVG(figure)
    figure.text(0.5, 0.5, message, ha="center", va="center", fontsize=AXIS_TITLE_PT + 1, **_TEXT)
    return _svg(figure)


def _month_axis(axes: Axes, first: pd.Timestamp, last: pd.Timestamp, chart_width_in: float) -> None:
    """Ticks on the first of a month, labelled Jan 2027, at most MAX_MONTH_TICKS of them and fewer on a narrow
    chart, so no two labels touch; whole quarters or years apart when the months are many, so the labels read as a
    calendar."""
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    axis_in = chart_width_in * 0.8  # the value labels and axis title take the rest
    most = max(2, min(MAX_MONTH_TICKS, int(axis_in // MONTH_LABEL_IN)))
    interval = next((i for i in MONTH_TICK_INTERVALS if months / i <= most), None)
    locator: mdates.DateLocator
    if interval is None:
        locator = mdates.YearLocator(base=math.ceil(months / 12 / most))
    else:
        locator = mdates.MonthLocator(bymonth=range(1, 13, interval), bymonthday=1)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))


def _dates(values: Any) -> np.ndarray:
    return pd.to_datetime(pd.Series(list(values))).to_numpy()


# --- the charts -------------------------------------------------------------------------------------------------

def kept_interval_svg(label: str, estimate: float, lower: float, upper: float, money_axis: bool,
                      title: str | None = None, *, width_in: float = PRINT_WIDTH_IN,
                      height_in: float | None = None) -> str:
    """One horizontal bar at the estimate with its 95% interval (accounts or ARR kept by a change): green when the
    change keeps more, red when it keeps fewer, a line at 0."""
    if any(not math.isfinite(float(v)) for v in (estimate, lower, upper)):
        return empty_svg("No estimate for this change.", width_in)
    figure = _figure(width_in, height_in or (2.3 if title else 1.9))
    axes = figure.add_subplot()
    _style_axes(axes, value_axis="x")
    axes.barh([0], [estimate], height=0.5, color=PALETTE[2] if estimate >= 0 else PALETTE[1],
              xerr=[[estimate - lower], [upper - estimate]], error_kw={"ecolor": INK, "capsize": 4, "elinewidth": 1})
    axes.axvline(0, color=ZERO_LINE_COLOR, linewidth=1)
    axes.set_yticks([0], [textwrap.fill(label, KEPT_LABEL_WRAP_CHARACTERS)], fontsize=TICK_PT, **_TEXT)
    axes.set_ylim(-0.6, 0.6)
    axes.xaxis.set_major_formatter(money_ticks() if money_axis else count_ticks())
    _titles(axes, title, "ARR kept a year ($)" if money_axis else "Accounts kept", None)
    return _svg(figure)


def retention_trend_svg(kpi: pd.DataFrame, title: str | None = "Revenue retention by month", *,
                        width_in: float = PRINT_WIDTH_IN, height_in: float | None = None) -> str:
    """One line per measure (gross and net revenue retention), one point per month."""
    data = kpi.dropna(subset=["gross_revenue_retention"])
    if data.empty:
        return empty_svg("No months with starting revenue yet.", width_in)
    months = _dates(data.month_start)
    figure = _figure(width_in, height_in or (3.8 if title else 3.5))
    axes = figure.add_subplot()
    _style_axes(axes)
    handles = []
    for column, name, color in (("net_revenue_retention", "Net revenue retention", PALETTE[0]),
                                ("gross_revenue_retention", "Gross revenue retention", PALETTE[1])):
        handles += axes.plot(months, data[column].to_numpy(dtype=float), color=color, marker="o", markersize=4,
                             linewidth=1.6, label=name)
    first, last = pd.Timestamp(months.min()), pd.Timestamp(months.max())
    # half a month either side, so a single month is a point in the middle rather than on a years-wide axis
    axes.set_xlim(first - pd.Timedelta(days=15), last + pd.Timedelta(days=15))
    _month_axis(axes, first, last, width_in)
    axes.yaxis.set_major_formatter(share_ticks())
    _titles(axes, title, "Month", "Share of starting MRR kept in the month")
    _legend_below(figure, handles, columns=2)
    return _svg(figure)


def cohort_heatmap_svg(cohorts: pd.DataFrame, value: str = "retained_account_share",
                       title: str | None = "Cohort retention", *, width_in: float = PRINT_WIDTH_IN,
                       height_in: float | None = None) -> str:
    """One cell per signup cohort (row) and month since signup (column), coloured by the retained share. Rows run
    as the app's do: the newest cohort at the bottom, the oldest (the longest row) at the top."""
    if cohorts.empty:
        return empty_svg("No fully observed cohort months yet.", width_in)
    grid = cohorts.pivot(index="cohort_month", columns="months_since_signup", values=value).sort_index(ascending=False)
    months = [int(m) for m in grid.columns]
    # every month between the first and last as a column, so a month no cohort reached is a gap, not a squeeze
    grid = grid.reindex(columns=range(min(months), max(months) + 1))
    shares = np.ma.masked_invalid(grid.to_numpy(dtype=float))
    labels = [pd.Timestamp(m).strftime("%Y-%m") for m in grid.index]
    height_in = height_in or min(MAX_HEATMAP_HEIGHT_IN, max(3.6, HEATMAP_FRAME_IN + COHORT_ROW_IN * len(labels)))
    figure = _figure(width_in, height_in)
    axes = figure.add_subplot()
    _style_axes(axes, value_axis=None)
    observed = shares.compressed()
    top = max(1.0, float(observed.max(initial=0.0)))
    # Row i at height i, as plotly stacks a category axis from the bottom: the first (newest) cohort lowest. One
    # pixel a cell, unsmoothed: a few kilobytes whatever the cohorts, where a path a cell is hundreds, and
    # WeasyPrint keeps the cells' edges sharp (no interpolation) where abutting paths print hairline seams.
    cells = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=top, origin="lower", aspect="auto",
                        interpolation="none", extent=(min(months) - 0.5, max(months) + 0.5, -0.5, len(labels) - 0.5))
    plot_height_pt = (height_in - HEATMAP_FRAME_IN) * 72
    every = max(1, math.ceil(len(labels) * COHORT_LABEL_PITCH_PT / plot_height_pt))
    # counted from the newest cohort, so the one a reader looks for first always has its label
    shown = range(0, len(labels), every)
    axes.set_yticks(list(shown), [labels[i] for i in shown], fontsize=TICK_PT, **_TEXT)
    axes.set_ylim(-0.5, len(labels) - 0.5)
    # whole months only, at most about MAX_MONTH_COLUMN_TICKS of them and fewer on a narrow chart (a two-digit
    # label needs about a third of an inch), even for a single column
    most = max(3, min(MAX_MONTH_COLUMN_TICKS, int(width_in * 0.7 / 0.33)))
    month_step = max(1, math.ceil((max(months) - min(months) + 1) / most))
    axes.set_xticks(range(min(months), max(months) + 1, month_step))
    axes.xaxis.set_major_formatter(count_ticks())
    _titles(axes, title, "Months since signup", "Signup cohort")
    # as tall as the rows, as the app's colour bar is, and about a seventh of an inch wide
    colorbar = figure.colorbar(cells, ax=axes, pad=0.02, aspect=(height_in - HEATMAP_FRAME_IN) / 0.15,
                               format=share_ticks())
    colorbar.ax.tick_params(labelsize=TICK_PT, labelcolor=INK, labelfontfamily=FONT_FAMILY)
    # beside the bar rather than above it, where a narrow chart's title would run into it
    colorbar.set_label("retained", fontsize=TICK_PT, **_TEXT)
    colorbar.outline.set_visible(False)
    return _svg(figure)


def forecast_fan_svg(history: pd.DataFrame, forecast: pd.DataFrame, measure: str, base_measure: str, start: tuple,
                     money_axis: bool, title: str | None = None, with_change: pd.DataFrame | None = None, *,
                     width_in: float = PRINT_WIDTH_IN, height_in: float | None = None) -> str:
    """Where a measure is heading, as `charts.forecast_fan` draws it: `history` (columns date, value) as a line,
    then from `start` (as-of date, value then) the forecast of `measure` with its 80% and 95% bands and, dashed, the
    forecast of `base_measure` (today's accounts; the gap above it is new business). `forecast` is the stored long
    frame (month_end, measure, estimate, lower_80 … upper_95); `with_change`, in the same shape, adds the forecast of
    `measure` with a what-if's change as a line of its own."""
    total = forecast[forecast.measure == measure].sort_values("month_end")
    if total.empty:
        return empty_svg("No forecast for this measure.", width_in)
    base = forecast[forecast.measure == base_measure].sort_values("month_end")
    start_date, start_value = pd.Timestamp(start[0]), float(start[1])

    def from_start(rows: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
        # every forecast line and band begins at today's value, so the fan opens from the history's end
        return (_dates([start_date, *rows.month_end]),
                np.array([start_value, *rows[column].to_numpy(dtype=float)]))

    figure = _figure(width_in, height_in or (4.3 if title else 4.0))
    axes = figure.add_subplot()
    _style_axes(axes)
    handles: list[Artist] = []
    for level, alpha, name in FAN_BANDS:
        months, upper = from_start(total, f"upper_{level}")
        _, lower = from_start(total, f"lower_{level}")
        axes.fill_between(months, lower, upper, color=PALETTE[0], alpha=alpha, linewidth=0)
        handles.append(Patch(facecolor=PALETTE[0], alpha=alpha, label=name))
    if not history.empty:
        handles += axes.plot(_dates(history.date), history.value.to_numpy(dtype=float), color=HISTORY_COLOR,
                             linewidth=1.6, label="What happened")
    handles += axes.plot(*from_start(total, "estimate"), color=PALETTE[0], marker="o", markersize=3.5, linewidth=1.6,
                         label="Forecast, all accounts")
    if not base.empty:
        handles += axes.plot(*from_start(base, "estimate"), color=PALETTE[0], linestyle="--", linewidth=1.4,
                             label="of which today's accounts (the gap above is new business)")
    changed = None if with_change is None else with_change[with_change.measure == measure].sort_values("month_end")
    if changed is not None and not changed.empty:
        handles += axes.plot(*from_start(changed, "estimate"), color=PALETTE[2], marker="o", markersize=3.5,
                             linewidth=1.6, label="With the change")
    every_date = [start_date, *pd.to_datetime(total.month_end)]
    if not history.empty:
        every_date += list(pd.to_datetime(history.date))
    _month_axis(axes, min(every_date), max(every_date), width_in)
    axes.yaxis.set_major_formatter(money_ticks() if money_axis else count_ticks())
    _titles(axes, title, "Month", "MRR ($)" if money_axis else "Active accounts")
    _legend_below(figure, handles, columns=3)
    return _svg(figure)


__all__ = ["PRINT_WIDTH_IN", "cohort_heatmap_svg", "empty_svg", "forecast_fan_svg", "kept_interval_svg",
           "retention_trend_svg"]
