"""The drivers page's words about which fit it shows, and the download that carries them (pure functions)."""

from __future__ import annotations

import pandas as pd

from dashboard import drivers_view

EFFECTS = pd.DataFrame({"pillar": ["speed"], "term": ["first_response_hours"], "unit": ["per doubling"],
                        "hazard_ratio": [1.2], "ci_lower": [1.1], "ci_upper": [1.3], "p_value": [0.01],
                        "ph_p_value": [0.5], "ph_violated": [False]})


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


def test_downloaded_effects_say_which_accounts_were_fitted():
    stored = drivers_view.effects_table(EFFECTS, drivers_view.fitted_on(("plan=Starter",), refitted=False))
    assert list(stored.fitted_on) == ["every account, at build time"]
    refit = drivers_view.effects_table(EFFECTS, drivers_view.fitted_on(("plan=Starter", "region=EMEA"), True))
    assert list(refit.fitted_on) == ["filtered accounts, refitted: plan=Starter, region=EMEA"]
    assert list(refit.columns[1:]) == list(drivers_view.effects_table(EFFECTS).columns)
