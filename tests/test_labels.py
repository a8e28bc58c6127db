"""The words a person reads for segments, filters and undefined medians (dashboard/labels.py and the views)."""

from __future__ import annotations

import json
import math
import shutil

from dashboard import survival_view
from dashboard.common import filter_caption
from dashboard.labels import filter_words, natural_key, segment_label
from pipelines.input_files import file_fingerprint


def test_segment_columns_read_as_titles_with_support_acronyms_in_capitals():
    assert segment_label("company_size") == "Company Size"
    assert segment_label("csm") == "CSM" and segment_label("account_arr_band") == "Account ARR Band"


def test_filters_read_as_words_in_the_caption():
    assert filter_caption(("plan=Starter", "signup_cohort_month>=2024-01", "signup_cohort_month<=2025-06")) == \
        "Filters: Plan = Starter, signed up from 2024-01, signed up by 2025-06"
    assert filter_caption(()) == "All accounts"
    assert filter_words("company_size=1000+") == "Company Size = 1000+"


def test_ranges_sort_by_their_numbers():
    sizes = ["1-10", "1000+", "11-50", "201-1000", "51-200"]
    assert sorted(sizes, key=natural_key) == ["1-10", "11-50", "51-200", "201-1000", "1000+"]
    assert sorted(["EMEA", "APAC", "North America"], key=natural_key) == ["APAC", "EMEA", "North America"]


def test_a_median_the_curve_never_reaches_reads_not_reached():
    assert survival_view._days(math.inf) == "not reached" and survival_view._days(float("nan")) == "not reached"
    assert survival_view._days(412.4) == "412"


def test_the_demo_table_of_planted_effects_shows_every_factor_by_its_own_model_too(demo_database):
    """Each planted service effect has a recovered value from the mutually adjusted model and from the factor's own
    model (the urgent/high share was shown empty: the planted file names its column, the model its factor); on the
    default demo the bad interactions' own model covers both total effects (the planted ratio with the goodwill
    credits that follow), which the table shows beside the planted ones."""
    import duckdb

    from dashboard import rebuild

    db_path, demo = demo_database
    with duckdb.connect(str(db_path), read_only=True) as con:
        effects = con.execute("select * from driver_effects").df()
        own = con.execute("select * from factor_effects").df()
        info = {"inputs": json.loads(con.execute("select inputs_json from build_info").fetchone()[0])}
    table = rebuild.planted_vs_recovered(info, effects, own).set_index(["factor", "term"])
    urgent = table.loc[("share of urgent or high tickets", "per +10 pp")]
    assert urgent["mutually adjusted: recovered"] is not None and urgent["own model: recovered"] is not None
    for term in ("1 vs 0", "2+ vs 0"):
        row = table.loc[("bad interactions in the window", term)]
        assert row["own model: truth inside"], term
        assert row["total effect, with the credits that follow"] < row["planted hazard ratio"]
    assert table["planted hazard ratio"].notna().all()
    assert table["total effect, with the credits that follow"].notna().sum() == 2


def test_a_build_of_edited_demo_files_claims_no_planted_truths(demo_database, tmp_path):
    """The demo records its files' fingerprints with its truths: a build that read an edited copy beside the
    demo's planted_effects.json (or a file that is not the demo's) is other data."""
    from dashboard import rebuild

    demo = demo_database[1]
    copy = tmp_path / "demo"
    shutil.copytree(demo.out_dir, copy)
    edited = copy / demo.accounts.name
    edited.write_text(edited.read_text(encoding="utf-8").replace("Starter", "Basic"), encoding="utf-8")

    def inputs(accounts_sha256: str) -> dict:
        return {"inputs": [{"source": "accounts", "path": str(edited), "sha256": accounts_sha256},
                           {"source": "interactions", "path": str(copy / demo.interactions.name),
                            "sha256": file_fingerprint(demo.interactions)}]}

    assert rebuild.planted_document(inputs(file_fingerprint(demo.accounts))) is not None
    assert rebuild.planted_document(inputs(file_fingerprint(edited))) is None
