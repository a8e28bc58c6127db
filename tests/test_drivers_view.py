"""The drivers page's words about which fit it shows, its tables, and the downloads that carry them (pure
functions)."""

from __future__ import annotations

import json
import math

import pandas as pd

from dashboard import drivers_view

EFFECTS = pd.DataFrame({"pillar": ["quick"], "term": ["first_response_hours"], "factor": ["first_response_hours"],
                        "level": [""], "unit": ["per doubling"], "hazard_ratio": [1.2], "ci_lower": [1.1],
                        "ci_upper": [1.3], "p_value": [0.01], "ph_p_value": [0.5], "ph_violated": [False]})


def test_fit_source_note_names_the_fit_shown():
    assert drivers_view.fit_source_note((), (), refitted=False) == ""
    stored = drivers_view.fit_source_note(("plan=Starter",), (), refitted=False)
    assert stored.startswith("Fitted at build time on every account of the company: the filters do not apply to this "
                             "model.")
    assert f'"{drivers_view.REFIT_LABEL}"' in stored
    # a csm's scope arrives as the page's first filter
    assert "every account of the company: your scope does not apply" in drivers_view.fit_source_note(
        ("csm=Dana Ruiz",), ("csm=Dana Ruiz",), refitted=False)
    assert "every account of the company: the filters and your scope do not apply" in drivers_view.fit_source_note(
        ("csm=Dana Ruiz", "plan=Starter"), ("csm=Dana Ruiz",), refitted=False)

    model = {"n_accounts": 41_633, "n_events": 5_120, "penalizer": 0.0, "sample": None}
    refitted = drivers_view.fit_source_note(("plan=Starter",), (), refitted=True, model=model)
    assert refitted.startswith("Refitted on the filtered accounts (41,633 accounts, 5,120 churns): an exact fit to "
                               "convergence")
    sampled = drivers_view.fit_source_note(("plan=Starter",), (), True, {**model, "sample": {"accounts_total": 9}})
    assert "5,120 churns), a seeded sample of them:" in sampled
    penalised = drivers_view.fit_source_note(("plan=Starter",), (), True, {**model, "penalizer": 0.01})
    assert "with a small penalty" in penalised and "exact fit" not in penalised


OWN = pd.DataFrame({"factor": ["first_response_hours", "bad_interactions_90d"],
                    "term": ["first_response_hours", "bad_interactions_90d: 2+ vs 0"],
                    "unit": ["per doubling", "vs none in 90 days"], "hazard_ratio": [1.27649, 2.2049],
                    "ci_lower": [1.1904, 1.5], "ci_upper": [1.3687, 3.2], "p_value": [0.000012345, 0.04321],
                    "e_value": [1.8712, 3.8], "e_value_ci": [1.6633, 2.37],
                    "adjusted_for": ["plan, ticket volume", "plan, ticket volume, SLA breach rate"],
                    "not_adjusted_for": ["SLA breach rate, CSAT", "credited bad interactions"]})


def test_downloaded_effects_hold_each_factors_own_model_then_the_mutually_adjusted_one():
    table = drivers_view.effects_download(EFFECTS, OWN, ("plan=Starter",), refitted=False)

    assert list(table.columns[:9]) == ["fitted on", "model", "factor", "level", "unit", "hazard ratio",
                                       "95% CI lower", "95% CI upper", "p-value"]
    assert list(table.model) == ["each factor's own model"] * 2 + ["mutually adjusted"]
    first, pattern, adjusted = table.to_dict("records")
    # ratios and E-values to 2 decimals, p-values to 3 significant figures, names in words
    assert (first["factor"], first["hazard ratio"], first["95% CI lower"], first["p-value"], first["E-value"]) == (
        "first response time", 1.28, 1.19, 1.23e-05, 1.87)
    assert (pattern["factor"], pattern["level"], pattern["hazard ratio"]) == ("bad interactions in the window",
                                                                            "2+ vs 0", 2.2)
    assert first["adjusted for"] == "plan, ticket volume"
    assert first["not adjusted for (its consequences)"] == "SLA breach rate, CSAT"
    assert adjusted["adjusted for"] == "every other term in the model" and math.isnan(adjusted["E-value"])
    assert adjusted["proportional hazards test p-value"] == 0.5


def test_downloaded_effects_say_which_accounts_each_model_was_fitted_on():
    stored = drivers_view.effects_download(EFFECTS, OWN, ("plan=Starter",), refitted=False)
    assert set(stored["fitted on"]) == {"every account, at build time"}
    refit = drivers_view.effects_download(EFFECTS, OWN, ("plan=Starter", "region=EMEA"), True)
    assert list(refit["fitted on"]) == ["every account, at build time"] * 2 + [
        "filtered accounts, refitted: plan=Starter, region=EMEA"]


def test_downloaded_json_has_the_csvs_rows_and_what_they_rest_on():
    table = drivers_view.effects_download(EFFECTS, OWN, (), refitted=False)

    document = json.loads(drivers_view.effects_download_json(table, (), {"n_accounts": 5000}, ["a note"]))

    assert document["model"] == {"n_accounts": 5000} and document["factor_effects_notes"] == ["a note"]
    assert [row["hazard ratio"] for row in document["effects"]] == [1.28, 2.2, 1.2]
    assert document["effects"][2]["E-value"] is None  # the mutually adjusted model has none: null, not NaN


def test_own_model_table_lists_what_every_factor_shares_once():
    assert drivers_view.shared_adjustment(OWN) == ["plan", "ticket volume"]
    table = drivers_view.factor_effects_table(OWN).set_index("factor")
    assert list(table["also adjusted for"]) == ["nothing else", "SLA breach rate"]
    assert table.loc["bad interactions in the window (2+ vs 0)", "hazard ratio"] == 2.2
    assert drivers_view.listing(["plan", "case mix", "ticket volume"]) == "plan, case mix and ticket volume"


def test_chart_labels_name_every_term_in_words():
    effects = pd.DataFrame({"term": ["plan=Growth", "missing: first_response_hours, csat", "tickets_90d"],
                            "factor": ["plan", "missing: first_response_hours, csat", "tickets_90d"],
                            "level": ["Growth", "", ""],
                            "unit": ["vs plan=Starter", "no eligible interactions in 90 days vs some",
                                     "per doubling of (1 + tickets in 90 days)"]})
    assert list(drivers_view.with_labels(effects).label) == [
        "plan Growth, vs plan=Starter",
        "missing: first response time, CSAT, no eligible interactions in 90 days vs some",
        "ticket volume, per doubling of (1 + tickets in 90 days)"]
