"""Service drivers for support leaders: which parts of the customer's metric move churn, and how much."""

import streamlit as st

from dashboard import charts, data, drivers_view, scope, structure_view
from dashboard.common import (csv_download, current_filters, download, filter_caption, keep_choice, require_database,
                              restore_choice)

con, info = require_database()
filters = current_filters()
st.title("Service drivers")
st.caption(f"Cox model on the account-month panel, each month explained by the 90 days before it · "
           f"{filter_caption(filters)}")

# a refit on the filtered accounts takes seconds at scale, so a filter change does not start one unasked
refit = bool(filters) and st.toggle(
    drivers_view.REFIT_LABEL, key="drivers_refit",
    help="Fit the mutually adjusted model below on the filtered accounts only, to convergence (seconds on a large "
         "build; the result is kept for this selection). Off: the build's fit on every account.")
try:
    effects, model = data.drivers_fit(con, info["build_id"], filters, refit)
except ValueError as error:
    st.warning(f"The drivers model cannot be fitted for these accounts: {error}")
    st.stop()
if effects.empty:
    reason = (model or {}).get("error", "no usable terms")
    st.info(f"No drivers model for this build: {reason}")
    st.stop()

own, stability = data.cached_factor_effects(con, info["build_id"])
own_notes = (data.model_info(con, "factor_effects") or {}).get("notes", [])
if not own.empty:
    st.subheader("Each factor's effect, from its own model")
    st.caption("Hazard ratios of churn: each factor adjusted for its confounders (case mix, ticket volume, plan and "
               "the service factors upstream of it), never for its own consequences. These are estimated effects "
               "if the listed confounders are the important ones, not proof. The E-value is how strongly an "
               "unmeasured confounder would have to be tied to both the factor and churn to explain the ratio (or "
               "its interval's nearer limit) away. 95% intervals are clustered by account. "
               + drivers_view.company_wide_note(filters, scope.scope(), "this table"))
    if shared := drivers_view.shared_adjustment(own):
        st.markdown(f"Every factor below is adjusted for **{drivers_view.listing(shared)}**; *also adjusted for* "
                    "lists the rest of its confounders, *consequences* what it moves, left free in its model.")
    own_columns = {
        "factor": st.column_config.TextColumn(width=130),
        "hazard ratio": st.column_config.NumberColumn(width=78, format="%.2f"),
        "95% CI": st.column_config.TextColumn(width=82),
        "also adjusted for": st.column_config.TextColumn(width=215),
        "consequences, not adjusted for": st.column_config.TextColumn(width=190),
        "E-value": st.column_config.NumberColumn(width=60, format="%.2f"),
        "E-value (CI)": st.column_config.NumberColumn(width=78, format="%.2f"),
        "unit": st.column_config.TextColumn(width=120)}
    # rows tall enough for four lines let the adjustment sets wrap instead of running off to the right
    st.dataframe(drivers_view.factor_effects_table(own), hide_index=True, row_height=80, height="content",
                 column_config=own_columns)
    for note in own_notes:
        st.caption(f"Note: {note}.")

    st.subheader("Each factor's effect by churn cause")
    cause_info = data.model_info(con, "cause_models") or {}
    if note := drivers_view.cause_models_note(cause_info, data.build_has_churn_reasons(con, info["build_id"])):
        st.markdown(note)
    else:
        causes = cause_info["causes"]
        by_cause = data.cached_cause_factor_effects(con, info["build_id"])
        st.caption(drivers_view.CAUSE_HAZARD_RATIO_IN_WORDS + " " + drivers_view.cause_counts_sentence(cause_info)
                   + " " + drivers_view.company_wide_note(filters, scope.scope(), "these models"))
        st.markdown("\n".join(f"- {s}" for s in drivers_view.cause_contrast_sentences(by_cause, causes)))
        st.dataframe(drivers_view.cause_comparison_table(own, by_cause, causes), hide_index=True, row_height=80,
                     column_config={"factor": st.column_config.TextColumn(width=130),
                                    "also adjusted for": st.column_config.TextColumn(width=215)})
        for i, (tab, cause) in enumerate(zip(st.tabs([drivers_view.cause_heading(c) for c in causes]), causes)):
            rows = drivers_view.cause_effects_rows(by_cause, cause)
            tab.plotly_chart(charts.forest_plot(
                rows, title=f"{drivers_view.cause_heading(cause)}: hazard ratio of each factor (95% CI)", y="label"),
                key=f"forest_cause_{i}")
            tab.dataframe(drivers_view.factor_effects_table(rows), hide_index=True, row_height=80, height="content",
                          column_config=own_columns)
        if cause_notes := cause_info.get("notes"):
            with st.expander("Notes on the models by cause"):
                st.markdown("\n".join(f"- {n}." for n in cause_notes))
    revenue = data.cached_factor_revenue_effects(con, info["build_id"])
    if not revenue.empty:
        st.subheader("Each factor's effect on revenue: expansion and contraction next month")
        st.caption("Among accounts that stay: the change in the monthly chance that MRR rises (expansion) or falls "
                   "(contraction) next month, in percentage points per unit of the factor, with the same adjustment "
                   "set as its churn model and 95% intervals clustered by account. Churned revenue is the churn "
                   "effect above. " + drivers_view.company_wide_note(filters, scope.scope(), "this table"))
        st.dataframe(drivers_view.revenue_effects_table(revenue), hide_index=True)
    st.caption(structure_view.structure_note(data.causal_structure(con)))
    orderings = data.cached_factor_orderings(con, info["build_id"])
    if not orderings.empty:
        st.subheader("Where the order of two factors is uncertain")
        for paragraph in structure_view.ordering_paragraphs(orderings):
            st.markdown(paragraph)
    with st.expander("Stability: each hazard ratio as the adjustment set grows"):
        st.dataframe(drivers_view.stability_table(stability), hide_index=True)
        st.caption("A ratio that moves a lot as confounders are added was confounded; one that moves little is "
                   "robust to these adjustments, though not to confounders nobody measured.")

st.subheader("Mutually adjusted view")
st.caption("One model with every factor in it: each ratio holds every other factor fixed, including the factor's "
           "own consequences (SLA breaches for first response), so it is not the effect of improving that factor. "
           + drivers_view.fit_source_note(filters, scope.scope(), refit, model))
service, controls = drivers_view.split_terms(drivers_view.with_labels(effects))
st.plotly_chart(charts.forest_plot(service, title="Service factors: churn hazard ratio (95% CI)", y="label"),
                key="forest")
flagged = drivers_view.ph_flags(effects)
if flagged:
    st.warning(flagged)

with st.expander("Model information, control terms and caveats"):
    if not refit and (note := drivers_view.company_wide_note(filters, scope.scope(), "these figures")):
        st.caption(note)
    st.markdown(drivers_view.model_markdown(model))
    st.plotly_chart(charts.forest_plot(controls, title="Control terms", y="label"), key="forest_controls")
    st.dataframe(drivers_view.effects_table(effects), hide_index=True, column_config={
        "term": "model term",
        "hazard_ratio": st.column_config.NumberColumn("hazard ratio", format="%.2f"),
        "ci_lower": st.column_config.NumberColumn("95% CI lower", format="%.2f"),
        "ci_upper": st.column_config.NumberColumn("95% CI upper", format="%.2f"),
        "p_value": st.column_config.NumberColumn("p-value", format="%.3g"),
        "ph_p_value": st.column_config.NumberColumn("proportional hazards test p-value", format="%.3g"),
        "ph_violated": st.column_config.CheckboxColumn("proportional hazards doubtful")})

st.subheader("Churn by quartile of a factor")
choices = drivers_view.quartile_factors(effects)
restore_choice("quartile_factor", choices[0], lambda texts: choices[choices.index(texts[0])], options=choices)
factor = st.selectbox("Factor", choices, format_func=drivers_view.factor_label, key="quartile_factor")
keep_choice("quartile_factor", factor, choices[0], lambda v: [v])
quartiles = data.cached_quartiles(con, info["build_id"], factor, filters)
st.plotly_chart(charts.quartile_churn(quartiles, drivers_view.factor_label(factor)), key="quartiles")
st.caption("Raw monthly churn of account-months in each quartile of the trailing 90-day measure, "
           "unadjusted for anything else (the forest plot above is the adjusted view).")
hazard_ratios = drivers_view.effects_download(effects, own, filters, refit)
csv_download(hazard_ratios, "Download hazard ratios of both models (CSV)", "driver_effects.csv", key="dl_effects")
download(st, "Download hazard ratios of both models (JSON)",
         lambda: drivers_view.effects_download_json(hazard_ratios, filters, model, own_notes),
         "driver_effects.json", "application/json", key="dl_effects_json", rows=len(hazard_ratios))
csv_download(quartiles, "Download quartile table (CSV)", "churn_by_quartile.csv", key="dl_quartiles")

with st.expander("Methods: how to read these numbers"):
    st.markdown(drivers_view.methods_text())
