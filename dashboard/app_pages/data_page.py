"""Data page: what was loaded and rejected, the tables built, and a rebuild from uploaded files."""

import streamlit as st

from dashboard import data, rebuild
from dashboard.common import csv_download
from pipelines.load import InputError
from pipelines.build import BuildError

st.title("Data")
con = data.connection()
path = data.database_path()
if con is None:
    st.info(f"No database at `{path}` yet: upload your files below, or run `make run` for the demo.")
else:
    info = data.build_info(con)
    st.caption(f"Build {info['build_id'][:8]} · as-of {info['as_of_date']:%Y-%m-%d} · built {info['built_at']:%Y-%m-%d %H:%M} UTC "
               f"in {info['build_seconds']:.1f} s · revenue basis: {info['revenue_basis'].replace('_', ' ')} · `{path}`")
    st.subheader("Inputs")
    st.dataframe(data.inputs_table(info), hide_index=True)
    for warning in info["warnings"]:
        st.warning(warning)
    st.subheader("Load report")
    st.dataframe(data.cached_table(con, info["build_id"], "load_report"), hide_index=True)
    st.subheader("Rejected rows and values")
    rejects = data.cached_table(con, info["build_id"], "rejected_rows")
    if rejects.empty:
        st.success("No rows were rejected and no values emptied.")
    else:
        st.dataframe(rejects, hide_index=True)
        csv_download(rejects, "Download rejected rows (CSV)", "rejected_rows.csv", key="dl_rejects")
    st.subheader("Tables")
    st.dataframe(data.cached_table(con, info["build_id"], "table_row_counts"), hide_index=True)
    planted = rebuild.planted_vs_recovered(info, data.driver_effects(con, ())[0])
    if planted is not None:
        st.subheader("Demo data: planted effects beside the recovered ones")
        st.dataframe(planted, hide_index=True)

st.subheader("Build from your own files")
st.caption("CSV or Parquet in the data contract (see the README). The current database keeps serving until the new "
           "build has passed every check; a bad file leaves it as it is.")
uploads = {
    "accounts": st.file_uploader("Accounts", type=["csv", "parquet", "txt", "tsv"], key="up_accounts"),
    "interactions": st.file_uploader("Interactions", type=["csv", "parquet", "txt", "tsv"], key="up_interactions"),
    "mrr_history": st.file_uploader("MRR history (optional)", type=["csv", "parquet", "txt", "tsv"], key="up_mrr"),
}
if st.button("Build the database", type="primary", disabled=not (uploads["accounts"] and uploads["interactions"])):
    with st.status("Building…", expanded=True) as status:
        try:
            result = rebuild.rebuild_from_uploads(
                {k: (v.getvalue() if v else b"") for k, v in uploads.items()}, path,
                progress=lambda e: status.write(f"{e.stage} · {e.table}: {e.rows:,} rows in {e.seconds:.1f} s"))
        except (InputError, BuildError, rebuild.UploadError) as error:
            status.update(label="The build failed; the current database was kept.", state="error")
            st.error(str(error))
        else:
            status.update(label=f"Built in {result.seconds:.1f} s (as-of {result.as_of}).", state="complete")
            st.rerun()
