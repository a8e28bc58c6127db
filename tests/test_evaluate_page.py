"""The "Evaluate a change" page on the default demo: the change its events file records, evaluated as the command
evaluates it, and a change described on the page."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import run_app
from dashboard import evaluate_view


@pytest.fixture
def demo_app(demo_database, monkeypatch):
    monkeypatch.setenv("RETENTION_DB", str(demo_database[0]))
    return demo_database


def test_the_page_evaluates_the_recorded_change_as_the_command_does(demo_app, capsys):
    from pipelines.cli import main

    db_path, demo = demo_app
    truth = json.loads(demo.planted_effects.read_text())["planted_change"]
    assert main(["evaluate", "--db", str(db_path), "--name", truth["name"], "--events", str(demo.events),
                 "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)

    at = run_app("evaluate")
    assert at.selectbox(key="eval_event").value == truth["name"]  # the recorded change comes first
    shown = {metric.label: metric.value for metric in at.metric}
    assert shown == {tile["label"]: tile["value"] for tile in evaluate_view.tiles(result)}
    captions = [caption.value for caption in at.caption]
    assert all(tile["interval"] in captions for tile in evaluate_view.tiles(result))
    assert any(result["verdict"].split(" (")[0] in markdown.value for markdown in at.markdown)
    service = next(frame.value for frame in at.dataframe if "service measure" in frame.value.columns)
    first_response = service.set_index("service measure").loc["first response time"]
    assert first_response["moved"] == "yes" and first_response["change (95% interval)"].startswith("−")
    assert any(result["expected_from_drivers"]["sentence"].split(":")[0] in box.value for box in at.info)
    charts = {chart.proto.id.rsplit("-", 1)[-1] for chart in at.get("plotly_chart")}
    assert {"eval_measure", "eval_event_study"} <= charts


def test_a_change_described_on_the_page_where_nothing_changed_finds_nothing_clear(demo_app):
    at = run_app("evaluate")
    at.selectbox(key="eval_event").set_value(evaluate_view.CUSTOM).run()
    at.selectbox(key="eval_column").set_value("region").run()
    at.selectbox(key="eval_value").set_value("North America").run()
    assert not at.exception
    verdict = next(markdown.value for markdown in at.markdown if "hazard ratio" in markdown.value)
    assert "No clear change in churn" in verdict and "both groups would otherwise have moved in parallel" in verdict


def test_the_overview_marks_the_recorded_change_on_its_trend_charts(demo_app):
    at = run_app("overview")
    specs = {chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}
    for key in ("retention_trend", "forecast_active_accounts"):
        layout = specs[key]["layout"]
        lines = [shape for shape in layout.get("shapes", []) if shape.get("line", {}).get("dash") == "dot"]
        # plotly places a line on a date axis at the date's milliseconds since 1970
        assert [line["x0"] for line in lines] == [pd.Timestamp("2025-07-01").timestamp() * 1000], (key, lines)
        assert any(note.get("text") == "EMEA support hires" for note in layout.get("annotations", [])), key
    assert any("changes recorded in events.csv" in caption.value for caption in at.caption)


def test_the_pages_choices_travel_in_the_link(demo_app):
    at = run_app("evaluate", {"eval_event": evaluate_view.CUSTOM, "eval_name": "LATAM chat", "eval_date": "2025-03-01",
                              "eval_column": "region", "eval_value": "LATAM", "eval_design": "did"})
    assert at.selectbox(key="eval_event").value == evaluate_view.CUSTOM
    assert at.text_input(key="eval_name").value == "LATAM chat"
    assert str(at.date_input(key="eval_date").value) == "2025-03-01"
    assert (at.selectbox(key="eval_column").value, at.selectbox(key="eval_value").value) == ("region", "LATAM")
    assert at.selectbox(key="eval_design").value == "did"
    at.selectbox(key="eval_design").set_value("synthetic").run()
    assert at.query_params["eval_design"] == "synthetic" and at.query_params["eval_value"] == "LATAM"
    # a value the page does not offer leaves the default
    at = run_app("evaluate", {"eval_design": "regression"})
    assert at.selectbox(key="eval_design").value == "auto" and "eval_design" not in at.query_params
