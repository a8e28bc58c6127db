"""The words a person reads for segments, filters and undefined medians (dashboard/labels.py and the views)."""

from __future__ import annotations

import math

from dashboard import survival_view
from dashboard.common import filter_caption
from dashboard.labels import filter_words, natural_key, segment_label


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
