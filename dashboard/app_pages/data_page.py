"""Data page: what was loaded and rejected, the tables built, and a rebuild from uploaded files.

The raw tables are for roles that may read them, the audit log and the rebuild for the admin; on the
laptop all of it shows."""

import pandas as pd
import streamlit as st

from dashboard import audit, auth, data, rebuild
from dashboard.common import csv_download
from dashboard.labels import literal, revenue_basis_words

st.title("Data")
con = data.connection()
path = data.database_path()
# where the server keeps its files is for those who run it
shown_path = str(path) if auth.allows(auth.RAW_TABLES) else path.name
# a database another version of the tool built is not read, but the page still offers the rebuild that replaces it
problem = data.schema_problem(con) if con is not None else None
info = data.build_info(con) if con is not None and problem is None else None
if problem is not None:
    st.error(problem)
elif info is None:
    st.info(f"No database at `{shown_path}` yet: upload your files below, or run `make run` for the demo.")
else:
    st.caption(f"Build {info['build_id'][:8]} · as-of {info['as_of_date']:%Y-%m-%d} · built {info['built_at']:%Y-%m-%d %H:%M} UTC "
               f"in {info['build_seconds']:.1f} s · revenue from {revenue_basis_words(info['revenue_basis'])} · `{shown_path}`")
    if not auth.allows(auth.RAW_TABLES):
        st.info("The inputs, load report and rejected rows are shown to analysts and admins.")
        st.stop()
    st.subheader("Inputs")
    st.dataframe(rebuild.inputs_table(info), hide_index=True,
                 column_config={"rows": st.column_config.NumberColumn("rows", format="localized")})
    for warning in info["warnings"]:
        st.warning(warning)
    st.subheader("Load report")
    st.dataframe(rebuild.load_report_table(data.cached_table(con, info["build_id"], "load_report")), hide_index=True,
                 column_config={"source": "input", **{column: st.column_config.NumberColumn(words, format="localized")
                                                      for column, words in rebuild.LOAD_REPORT_COLUMNS.items()}})
    reasons = data.cached_table(con, info["build_id"], "churn_reason_report")
    if not reasons.empty:
        st.subheader("Churn reasons and the cause each counts under")
        st.caption("Voluntary churn is a customer's choice; involuntary churn is a payment that failed. A reason the "
                   "reasons file does not list counts under its other cause, a churn with no reason as unknown.")
        st.dataframe(reasons.fillna({"reason": "(no reason given)"}), hide_index=True,
                     column_config={"mapped_by": "how", "accounts": st.column_config.NumberColumn(
                         "accounts", format="localized")})
    st.subheader("Rejected rows and values")
    rejects = data.cached_table(con, info["build_id"], "rejected_rows")
    if rejects.empty:
        st.success("No rows were rejected and no values emptied.")
    else:
        st.dataframe(rejects, hide_index=True)
        csv_download(rejects, "Download rejected rows (CSV)", "rejected_rows.csv", key="dl_rejects")
    st.subheader("Tables")
    st.dataframe(data.cached_table(con, info["build_id"], "table_row_counts"), hide_index=True,
                 column_config={"table_name": "table",
                                "row_count": st.column_config.NumberColumn("rows", format="localized")})
    planted_causes = rebuild.planted_causes(info)
    if planted_causes:
        # the demo planted its effects on voluntary churn alone: they are checked against the models of that cause
        causes = rebuild.cause_effects(data.cached_cause_driver_effects(con, info["build_id"]),
                                       data.cached_cause_factor_effects(con, info["build_id"]))
        planted = rebuild.planted_vs_recovered(info, *causes.get("voluntary", (pd.DataFrame(), None)))
    else:
        planted = rebuild.planted_vs_recovered(info, data.driver_effects(con, ())[0],
                                               data.cached_factor_effects(con, info["build_id"])[0])
    if planted is not None:
        st.subheader("Demo data: planted effects beside the recovered ones")
        if planted_causes:
            st.caption("The demo planted these effects on voluntary churn, and about a third of its churn is "
                       "involuntary (failed payments, which no service measure moves): each is checked against the "
                       "models of voluntary churn, the other causes censored.")
        st.caption("A bad interaction's planted ratio holds goodwill credits at none; its own model leaves the "
                   "credits that follow it free (a consequence), so it is checked against the total effect.")
        st.dataframe(planted, hide_index=True)
        if planted_causes:
            st.subheader("Demo data: involuntary churn, which no service measure moves")
            st.caption("Planted: a hazard of its own, higher on Starter, and a hazard ratio of 1 for every service "
                       "factor. Each factor's own model of involuntary churn, beside that truth.")
            st.dataframe(rebuild.involuntary_vs_recovered(planted_causes, causes.get("involuntary", (None, None))[1]),
                         hide_index=True)
        document = rebuild.planted_document(info) or {}  # there: planted_vs_recovered read it
        truth = next(iter(document.get("true_whatif", [])), None)
        if truth is not None:
            st.subheader("Demo data: the investment case beside the truth")
            # the naive side is a refit of the all-in-one model without case mix: seconds at scale, so on request
            if st.toggle("Compare the naive and the adjusted investment case with the demo's truth",
                         key="demo_truth_comparison"):
                comparison = rebuild.investment_case_vs_truth(
                    document, *data.cached_demo_investment_comparison(con, info["build_id"], truth["horizon_days"]))
                st.dataframe(comparison, hide_index=True)
            st.caption("The demo plants case-mix confounding: accounts in trouble file urgent tickets, which are "
                       "answered first, and churn more. A model without case mix that also holds SLA breaches and bad "
                       "interactions fixed misses the truth; the factor's own model, adjusted for case mix, finds it.")

if auth.allows(auth.AUDIT_LOG) and (log := audit.log_path()) is not None:  # the laptop keeps no log
    st.subheader("Audit log")
    st.caption(f"Sign-ins, exports and rebuilds, newest first · `{log}`")
    st.dataframe(audit.events_table(log), hide_index=True)
access = auth.current_access()
if access is None or not access.allows(auth.REBUILD):
    st.stop()
st.subheader("Build from your own files")
st.caption("The current database keeps serving until the new build has passed every check; a bad file leaves it "
           f"as it is. Files are capped at {rebuild.max_upload_mb():,} MB; larger ones build faster with "
           "`retention build`.")
if built := st.session_state.pop("last_rebuild_message", None):
    st.success(built)
for text in st.session_state.pop("last_conversion_reports", []):
    with st.expander("Conversion report of the last import", expanded=True):
        st.code(text)
source = st.radio("What do you have?", list(rebuild.SOURCES), format_func=rebuild.SOURCES.get, key="up_source")
kinds = ["csv", "parquet", "txt", "tsv", "json", "ndjson"]
options = {}
if source == "contract":
    uploads = {
        "accounts": st.file_uploader("Accounts", type=kinds, key="up_accounts"),
        "interactions": st.file_uploader("Interactions", type=kinds, key="up_interactions"),
        "mrr_history": st.file_uploader("MRR history (optional)", type=kinds, key="up_mrr"),
    }
    ready = bool(uploads["accounts"] and uploads["interactions"])
else:
    first = "tickets" if source == "zendesk_stripe" else "conversations"
    uploads = {
        first: st.file_uploader("Zendesk tickets (CSV or API JSON)" if first == "tickets"
                                else "Intercom conversations (JSON)", type=kinds, key=f"up_{first}"),
        "subscriptions": st.file_uploader("Stripe subscriptions (CSV or API JSON)", type=kinds, key="up_subscriptions"),
    }
    if source == "zendesk_stripe":
        a, b, c = st.columns(3)
        options["timezone"] = a.text_input("Zendesk account time zone", "UTC", key="up_tz",
                                           help="Admin Center CSV dates carry no offset (e.g. Europe/Berlin)")
        options["hours"] = b.selectbox("Durations", ["calendar", "business"], key="up_hours")
        options["account_key"] = c.selectbox("Link tickets to accounts by", ["domain", "external_id", "organization"],
                                             key="up_key", help="domain: requester email domain vs Stripe emails")
    ready = all(uploads.values())
if st.button("Build the database", type="primary", disabled=not ready):
    contents = {k: (v.getvalue() if v else b"") for k, v in uploads.items()}
    names = {k: v.name for k, v in uploads.items() if v}
    inputs = audit.upload_inputs(uploads)
    failure = None
    with st.status("Building…", expanded=True) as status:
        def report(e):
            status.write(f"{e.stage} · {e.table}: {e.rows:,} rows in {e.seconds:.1f} s")
        try:
            if source == "contract":
                result, conversions = rebuild.rebuild_from_uploads(contents, path, progress=report, names=names,
                                                                   replacing=info), []
            else:
                result, conversions = rebuild.import_and_rebuild(source, contents, path, options, progress=report,
                                                                 names=names)
        except rebuild.REBUILD_ERRORS as error:
            failure = error
            status.update(label="The build failed; the current database was kept.", state="error", expanded=False)
        else:
            status.update(label=f"Built in {result.seconds:.1f} s (as-of {result.as_of}).", state="complete")
    # the reason stands open under the collapsed progress: it names the file, row and column to fix
    if failure is not None:
        st.error(f"The build failed, so the current database was kept. {literal(failure)}")
        audit.record_rebuild(audit.log_path(), access, source, inputs, f"failed: {failure}")
    else:
        audit.record_rebuild(audit.log_path(), access, source, inputs, "built", result.build_id)
        st.session_state["last_conversion_reports"] = conversions
        st.session_state["last_rebuild_message"] = rebuild.built_message(result, names)
        st.rerun()
