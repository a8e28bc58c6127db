"""The PDF briefs: the investment case and the overview as a support leader forwards them, with the app's numbers,
fitting their pages, made offline."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from conftest import page_failures, require_pdf, run_app
from dashboard.reports import pdf
# A4 in millimetres and the margins the briefs keep clear (brief.STYLE's @page); the footer sits in the bottom margin
A4_MM = (210.0, 297.0)
CLEAR_MM = {"left": 10.0, "right": 10.0, "top": 8.0}


@pytest.fixture(autouse=True)
def pdf_tools():
    require_pdf(pdftoppm=True)


def report(*args: str):
    """`retention report …` as a person runs it."""
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "report", *args], capture_output=True, text=True,
                          timeout=300)


def pdf_text(path) -> str:
    """The PDF's text with every run of white space as one space (a cell may wrap a phrase over two lines)."""
    reader = PdfReader(str(path))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def page_images(path, dpi: int = 40) -> list[np.ndarray]:
    """Each page rendered by poppler, as the greyscale pixels a reader sees."""
    assert shutil.which("pdftoppm"), "pdftoppm is missing (apt-get install poppler-utils)"
    result = subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", str(path)], capture_output=True, check=True,
                            timeout=120)
    images, data = [], result.stdout
    while data:  # pdftoppm writes one PGM after another to stdout
        image = Image.open(io.BytesIO(data))
        image.load()
        images.append(np.asarray(image))
        header_end = data.index(b"255\n") + 4 if data.startswith(b"P5") else 0
        data = data[header_end + image.width * image.height:]
    return images


def assert_nothing_crosses_the_margins(path) -> int:
    """Every page of the PDF is A4 and nothing is drawn in its left, right and top margins (where content that
    overflows its box would land). Returns the number of pages."""
    reader = PdfReader(str(path))
    for page in reader.pages:
        width_mm, height_mm = float(page.mediabox.width) / 72 * 25.4, float(page.mediabox.height) / 72 * 25.4
        assert (round(width_mm), round(height_mm)) == (210, 297)
    images = page_images(path)
    assert len(images) == len(reader.pages)
    for number, pixels in enumerate(images, start=1):
        per_mm = pixels.shape[1] / A4_MM[0]
        strips = {"left": pixels[:, :int(CLEAR_MM["left"] * per_mm)],
                  "right": pixels[:, -int(CLEAR_MM["right"] * per_mm):],
                  "top": pixels[:int(CLEAR_MM["top"] * per_mm), :]}
        for side, strip in strips.items():
            assert strip.min() > 240, f"page {number}: something is drawn in the {side} margin"
    return len(images)


@pytest.fixture(scope="module")
def investment_pdf(small_demo_database, tmp_path_factory):
    out = tmp_path_factory.mktemp("briefs") / "brief.pdf"
    done = report("investment", "--db", str(small_demo_database[0]), "--factor", "first_response_hours",
                  "--change", "-50%", "--cost", "150000", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def overview_pdf(small_demo_database, tmp_path_factory):
    out = tmp_path_factory.mktemp("briefs") / "overview.pdf"
    done = report("overview", "--db", str(small_demo_database[0]), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_investment_brief_carries_the_pages_numbers(investment_pdf, small_demo_database, monkeypatch):
    """Every tile of the investment page (value and interval) is in the brief the command writes for the same
    choices, with the headline sentence, the adjustment, the hidden confounder in words, overlap, stability, the
    as-of date and the build."""
    monkeypatch.setenv("RETENTION_DB", str(small_demo_database[0]))
    at = run_app("investment", {"inv_first_response_hours": "-50", "inv_cost": "150000"})
    tiles = {m.label: m.value for m in at.metric}
    intervals = [c.value for c in at.caption if c.value.startswith("95% interval")]
    assert len(tiles) == 5 and len(intervals) == 5 and tiles["ROI over 365 days"] != "—"
    text = pdf_text(investment_pdf)
    for label, value in tiles.items():
        assert f"{label} {value}" in text, label
    for interval in intervals:
        assert interval in text
    for phrase in ("First response time −50% for the", "would keep about", "(95% intervals)", "adjusted for plan",
                   "A hidden factor would explain the effect of first response time away only if", "Overlap: for",
                   "Stability: first response time's hazard ratio is", "Yearly cost of the change: $150.0K",
                   "Data as of", "build "):
        assert phrase in text, phrase


def test_investment_brief_fits_one_page(investment_pdf):
    assert assert_nothing_crosses_the_margins(investment_pdf) == 1


def test_overview_brief_carries_the_pages_kpis_and_findings(overview_pdf, small_demo_database, monkeypatch):
    """The overview's tiles (value and change against a year earlier), its findings and the forecast sentence are
    in the brief as the page shows them."""
    monkeypatch.setenv("RETENTION_DB", str(small_demo_database[0]))
    at = run_app("overview")
    text = pdf_text(overview_pdf)
    for metric in at.metric:
        assert f"{metric.label} {metric.value}" in text, metric.label
        if metric.delta:
            assert metric.delta in text, metric.delta
    forecast = next(m.value for m in at.markdown if m.value.startswith("By "))
    assert forecast.replace("\\", "") in text
    levers = next(m.value for m in at.markdown if m.value.startswith("- "))
    first_finding = levers.splitlines()[0].removeprefix("- ")
    assert first_finding in text
    for heading in ("Customer retention overview", "Headline", "What the models say", "Where we are heading",
                    "Revenue retention by month", "Cohort retention"):
        assert heading in text


def test_overview_brief_fits_its_pages(overview_pdf):
    assert assert_nothing_crosses_the_margins(overview_pdf) <= 3


def test_filtered_overview_brief_says_its_filter_and_holds_the_filtered_accounts(small_demo_database, tmp_path,
                                                                                 monkeypatch):
    """A brief of a filter names it on every page and counts the accounts the page counts under that filter."""
    out = tmp_path / "growth.pdf"
    done = report("overview", "--db", str(small_demo_database[0]), "--filter", "plan=Growth", "--out", str(out))
    assert done.returncode == 0, done.stderr
    monkeypatch.setenv("RETENTION_DB", str(small_demo_database[0]))
    at = run_app("overview")
    whole = {m.label: m.value for m in at.metric}["Active accounts"]
    at.sidebar.multiselect(key="filter:plan").set_value(["Growth"]).run()
    assert not page_failures(at)
    filtered = {m.label: m.value for m in at.metric}["Active accounts"]
    text = pdf_text(out)
    assert filtered != whole and f"Active accounts {filtered}" in text
    pages = PdfReader(str(out)).pages
    assert all("filters: Plan = Growth" in page.extract_text() for page in pages)


def test_report_command_says_what_is_wrong_and_writes_no_file(small_demo_database, tmp_path, capsys):
    """The reports' command in this process (tests/test_cli_errors.py runs `retention report` as a program): a
    database that is not there, factors without their changes, a factor or filter the build does not know; exit 2
    with a message and no file."""
    from dashboard.reports.command import main

    db, out = str(small_demo_database[0]), str(tmp_path / "x.pdf")
    for argv, message in (
            (["overview", "--db", str(tmp_path / "none.duckdb")], "no database here"),
            (["investment", "--db", db, "--factor", "first_response_hours", "--factor", "csat", "--change", "-50%"],
             "2 --factor but 1 --change"),
            (["investment", "--db", db, "--factor", "mood", "--change", "+1"], "mood"),
            (["investment", "--db", db, "--factor", "first_response_hours", "--change", "faster"], "faster"),
            (["overview", "--db", db, "--filter", "colour=red"], "colour")):
        assert main(["report", *argv, "--out", out]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "x.pdf").exists()


def test_a_brief_fetches_nothing_a_value_in_it_names():
    """A value in a brief is text: a file or address named in HTML is never read into the PDF."""
    secret = "local-file-contents-7f3a"
    folder = os.path.dirname(__file__)
    html = (f"<p>brief</p><img src='file://{folder}/conftest.py'><object data='file:///etc/hostname'></object>"
            f"<link rel='stylesheet' href='http://127.0.0.1:9/x.css'><p>{secret[:5]}</p>")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.html_to_pdf(html))).pages)
    assert "brief" in text and "import" not in text


def test_a_value_in_the_data_is_printed_as_text_never_read_as_markup(small_demo_database):
    """A filter value (a segment name from the data) that looks like HTML is printed as the characters it is: no
    element it names is made, no file it names is read."""
    from dataclasses import replace

    from dashboard import data
    from dashboard.reports import brief, content

    con = data.open_build(str(small_demo_database[0]))
    try:
        case = content.investment_case(con, data.build_info(con), (("first_response_hours", "-50%"),), 365, None, ())
    finally:
        con.close()
    hostile = "plan=<object data='file:///etc/hostname'></object><b>bold</b>"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.html_to_pdf(
        brief.investment_html(replace(case, filters=(hostile,)))))).pages)
    assert "<object data='file:///etc/hostname'></object><b>bold</b>" in re.sub(r"\s+", " ", text)


def test_without_pango_the_pages_work_and_say_what_to_install(small_demo_database, monkeypatch):
    """A machine without the system's Pango runs the app as before; where a PDF button would be, the page says what to
    install, and the command says so with exit 2."""
    monkeypatch.setattr(pdf, "weasyprint", None)
    monkeypatch.setattr(pdf, "MISSING_LIBRARY", "cannot load library 'libpango-1.0-0'")
    monkeypatch.setenv("RETENTION_DB", str(small_demo_database[0]))
    for page in ("overview", "investment"):
        at = run_app(page)
        assert any("apt-get install libpango-1.0-0 libpangoft2-1.0-0" in c.value for c in at.caption), page
        assert "pdf" not in " ".join(b.proto.label.lower() for b in at.get("download_button")), page
    with pytest.raises(pdf.PdfUnavailable, match="apt-get install libpango"):
        pdf.html_to_pdf("<p>x</p>")
