"""`retention bench` at a tiny scale: it runs end to end and emits every figure, well formed.

This checks that the benchmark works, never how fast anything is: timings on a shared CI machine
are not a test. The figures themselves come from `retention bench --scale M` run by hand (docs/performance.md).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json

import pandas as pd
import pytest

from benchmarks.bench import add_bench_parser, summary_path
from shared_runs import once_per_run

pytestmark = pytest.mark.bench

PAGES = ("overview", "survival", "drivers", "investment", "at_risk", "data_page")
EXPECTED_FIGURES = (
    "demo_generate", "scan_floor",
    "build_total", "build_load", "build_staging", "build_metrics", "build_panel", "build_marts", "build_models",
    "build_audits", "write_floor", "build_data", "refresh_total", "refresh_data",
    "km_by_segment", "km_by_segment_counted", "km_lifelines",
    "cox_sample_ours", "cox_sample_lifelines", "cox_full_fit_ours", "drivers_fit",
    "whatif", "risk_scoring", "forecast", "brief_overview", "brief_investment",
    *(f"dashboard_{page}_{kind}" for page in PAGES for kind in ("first_render", "filter_change", "cached_rerun")),
    "dashboard_investment_widget_change", "dashboard_drivers_filtered_refit",
)


def run_bench(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="retention")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    """One benchmark run at 300 accounts, one repeat: (exit code, stdout, the --out path)."""
    def run():
        folder = tmp_path_factory.mktemp("bench")
        out = folder / "bench.jsonl"
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = run_bench(["--accounts", "300", "--repeats", "1", "--workdir", str(folder / "work"),
                              "--out", str(out)])
        return code, stdout.getvalue(), out
    return once_per_run(tmp_path_factory, "tiny_bench", run)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_bench_emits_every_figure_with_positive_seconds_and_rows(tiny_bench):
    code, stdout, _ = tiny_bench
    assert code == 0
    figures = {f["name"]: f for f in json_lines(stdout)}
    assert sorted(figures) == sorted(EXPECTED_FIGURES)
    for name, figure in figures.items():
        assert figure["scale"] == "custom", name
        assert figure["seconds"] > 0, name
        assert figure["rows"] > 0, name
        assert figure["peak_rss_mb"] > 0, name


def test_bench_out_file_is_one_json_object_per_line_and_a_summary_beside_it(tiny_bench):
    _, stdout, out = tiny_bench
    lines = out.read_text(encoding="utf-8").splitlines()
    parsed = [json.loads(line) for line in lines]  # every line, not only those that look like JSON
    assert [f["name"] for f in parsed] == [f["name"] for f in json_lines(stdout)]
    summary = summary_path(out).read_text(encoding="utf-8")
    assert all(f"| {name}" in summary for name in EXPECTED_FIGURES)


def test_bench_figures_count_the_same_data_consistently(tiny_bench):
    """Rows tie out across stages: the build reads what the scan read; every model sees the whole panel."""
    figures = {f["name"]: f for f in json_lines(tiny_bench[1])}
    assert figures["demo_generate"]["accounts"] == 300
    assert figures["build_total"]["rows"] == figures["scan_floor"]["rows"]
    assert figures["build_panel"]["rows"] == figures["build_total"]["account_months"]
    # 300 accounts < the 5,000-account Cox sample: the "sample" is the whole panel
    for name in ("cox_sample_ours", "cox_sample_lifelines", "cox_full_fit_ours", "drivers_fit"):
        assert figures[name]["rows"] == figures["build_total"]["account_months"], name
    assert figures["km_by_segment"]["rows"] == figures["km_lifelines"]["rows"] == 300
    assert figures["km_by_segment"]["groups"] == 4
    # the unfiltered view reads the counts the build stored; the counted figure is a filtered view's path
    assert (figures["km_by_segment"]["counts"], figures["km_by_segment_counted"]["counts"]) == ("stored", "aggregated")
    assert figures["km_by_segment_counted"]["rows"] == 300
    assert figures["build_total"]["ratio"] == pytest.approx(
        figures["build_total"]["seconds"] / figures["scan_floor"]["seconds"])
    stages = ("load", "staging", "metrics", "panel", "marts", "audits")
    assert figures["build_data"]["seconds"] == pytest.approx(sum(figures[f"build_{s}"]["seconds"] for s in stages))
    assert figures["build_data"]["ratio"] == pytest.approx(
        figures["build_data"]["seconds"] / figures["scan_floor"]["seconds"])
    # the write floor writes every table the build kept, the panel and the interactions among them
    written = figures["write_floor"]["rows"]
    assert written > figures["build_total"]["account_months"] + figures["build_total"]["interactions"]
    assert figures["build_data"]["ratio_to_both_floors"] == pytest.approx(
        figures["build_data"]["seconds"] / (figures["scan_floor"]["seconds"] + figures["write_floor"]["seconds"]))
    for name, reference in (("km_by_segment", "km_lifelines"), ("cox_sample_ours", "cox_sample_lifelines")):
        assert figures[name]["ratio"] == pytest.approx(figures[reference]["seconds"] / figures[name]["seconds"])


def test_bench_growth_divides_each_stages_time_ratio_by_the_input_rows_ratio(tmp_path, capsys):
    """Linear growth is 1.0: a stage ten times slower on ten times the rows holds; one forty times slower does not."""
    def run(scale, rows, staging, panel):
        return [{"name": "build_total", "scale": scale, "seconds": staging + panel, "rows": rows},
                {"name": "build_staging", "scale": scale, "seconds": staging, "rows": rows},
                {"name": "build_panel", "scale": scale, "seconds": panel, "rows": rows // 3},
                {"name": "scan_floor", "scale": scale, "seconds": 0.1, "rows": rows}]
    paths = []
    for scale, figures in (("M", run("M", 1000, 1.0, 2.0)), ("L", run("L", 10_000, 10.0, 80.0))):
        paths.append(tmp_path / f"{scale}.jsonl")
        paths[-1].write_text("".join(json.dumps(f) + "\n" for f in figures), encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_bench_parser(parser.add_subparsers())
    args = parser.parse_args(["bench", "--growth", *map(str, paths)])
    assert args.func(args) == 0
    table = {line.split(" | ")[0].lstrip("| "): line for line in capsys.readouterr().out.splitlines()}
    assert table["build_staging"].endswith("| 1.00 | yes |")
    assert table["build_panel"].endswith("| 4.00 | **no** |")
    assert table["build_total"].endswith("| 3.00 | **no** |")
    assert "scan_floor" not in table and "×10.0 rows" in table["input rows"]
    args = parser.parse_args(["bench", "--growth", str(paths[0])])
    assert args.func(args) == 2


def test_load_tracebacks_names_each_error_of_a_server_log():
    from benchmarks.load import tracebacks

    log = """2026-12-05 03:15:04,008 ERROR retention.app: page error b2d3920f
Traceback (most recent call last):
  File "/work/main/pipelines/models/coxph.py", line 332, in _newton
    raise ConvergenceError(f"no convergence after {self.max_iter} Newton steps")
pipelines.models.coxph.ConvergenceError: no convergence after 60 Newton steps

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/work/main/dashboard/errors.py", line 40, in reported_briefly
    yield
KeyError: 'settings_json'
  Stopping...
"""
    assert tracebacks(log) == ["pipelines.models.coxph.ConvergenceError: no convergence after 60 Newton steps",
                               "KeyError: 'settings_json'"]
    assert tracebacks("  You can now view your Streamlit app in your browser.\n") == []


def test_forecast_worlds_summarise_each_worlds_backtest_and_pool_them(tmp_path):
    """--forecast-worlds: each world's backtest summarised, and the months of all pooled, for both measures."""
    from benchmarks.forecast_calibration import forecast_worlds

    per_world, pooled = forecast_worlds(1, 300, 3, tmp_path, origins=3)
    assert list(per_world.world.unique()) == [3]
    assert set(pooled.measure) == {"active_accounts", "existing_base_accounts", "mrr"}
    # the sBG forecasts today's accounts alone
    assert pooled.set_index("measure").sbg_error.notna().to_dict() == {
        "active_accounts": False, "existing_base_accounts": True, "mrr": False}
    for frame in (per_world, pooled):
        assert frame[["in_80", "in_95"]].apply(lambda share: share.between(0, 1)).all().all()
        assert (frame.in_95 >= frame.in_80).all() and (frame.error > 0).all() and (frame.naive_error > 0).all()
    pd.testing.assert_frame_equal(per_world.drop(columns="world"), pooled)
