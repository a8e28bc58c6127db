"""Building a new database from files uploaded on the Data page, without ever blocking readers.

Uploads are written into a fresh temporary folder under names this module chooses (never a name
taken from the upload), then `build_database` builds beside the live file and swaps it in atomically:
the app keeps serving the old build until the new one is complete, and a bad file leaves it as it was.
The names the files were uploaded under go into the sidecar the build copies into build_info (see
UPLOAD_RECORD), so the Data page and every error speak of the person's own files, never of the copies.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
from streamlit import config as streamlit_config

from dashboard.labels import literal
from pipelines.build import BuildError, StageEvent, build_database
from pipelines.errors import InputError, RetentionError
from pipelines.load import PARQUET_MAGIC
from pipelines.models.factors import FACTORS, FACTORS_BY_NAME, label

# The sidecar beside the inputs that the build copies into build_info (import_info_json), keyed by source. An upload
# records there the name each file was sent under, since the build reads a copy under a name this module chose,
# and, for the demo's own unchanged files, the demo's planted truths, since the copy has no planted_effects.json
# beside it once the temporary folder is gone.
UPLOAD_RECORD = "import_info.json"
PLANTED_EFFECTS = "planted_effects.json"


def max_upload_mb() -> int:
    """Streamlit's own upload cap (server.maxUploadSize in .streamlit/config.toml), which this check repeats for
    files that come in another way."""
    return int(streamlit_config.get_option("server.maxUploadSize"))


class UploadError(RetentionError, ValueError):
    """An uploaded file cannot be used (too large or empty)."""


# What a rebuild from uploads can fail with, each with a message for the person who uploaded: anything they gave
# that cannot be used (a bad file, an upload too large), a failed build (the previous database is kept either way),
# or a ValueError a library raised on an odd file, which is still better shown than a traceback.
REBUILD_ERRORS = (RetentionError, BuildError, ValueError)


def save_upload(content: bytes, folder: Path, source: str) -> Path:
    cap_mb = max_upload_mb()
    if len(content) > cap_mb * 1024 * 1024:
        raise UploadError(f"the {source} file is larger than {cap_mb} MB; "
                          "build it with `retention build` instead")
    suffix = ".parquet" if content[:4] == PARQUET_MAGIC else ".csv"
    path = folder / f"{source}{suffix}"
    path.write_bytes(content)
    return path


def rebuild_from_uploads(uploads: dict[str, bytes], db_path: Path,
                         progress: Callable[[StageEvent], None] | None = None,
                         names: dict[str, str] | None = None, replacing: dict | None = None):
    """Build db_path from uploaded bytes keyed by source (accounts, interactions, optional mrr_history).

    `names` are the files' own names as uploaded (the source's default file name when missing): build_info records
    them and an error names them. `replacing` is the build_info of the database the upload replaces: when every
    uploaded file is byte for byte that build's input of the same source and that build was the demo's, the new
    build keeps the demo's planted truths; any other upload claims none."""
    folder = Path(tempfile.mkdtemp(prefix="retention-upload-"))
    try:
        paths = {source: save_upload(content, folder, source) for source, content in uploads.items() if content}
        uploaded_as = {source: (names or {}).get(source) or f"{source}{path.suffix}" for source, path in paths.items()}
        sha256 = {source: hashlib.sha256(uploads[source]).hexdigest() for source in paths}
        record: dict[str, dict[str, object]] = {
            source: {"uploaded_as": uploaded_as[source], "input_sha256": sha256[source]} for source in paths}
        planted = _planted_of_the_same_files(replacing, sha256)
        if planted is not None:
            record["accounts"]["planted_effects"] = planted
        (folder / UPLOAD_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        with _errors_naming({path: uploaded_as[source] for source, path in paths.items()}):
            return build_database(paths.get("accounts", folder / "accounts.csv"),
                                  paths.get("interactions", folder / "interactions.csv"),
                                  db_path, mrr_history=paths.get("mrr_history"), progress=progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _planted_of_the_same_files(replacing: dict | None, uploaded_sha256: dict[str, str]) -> dict | None:
    """The planted truths of the build being replaced when the uploads are its very inputs (same sources, same
    bytes), else None: the truths hold for those files only."""
    if not replacing:
        return None
    document = planted_document(replacing)
    inputs = {i["source"]: i.get("sha256") for i in replacing.get("inputs", [])}
    return document if document is not None and inputs == uploaded_sha256 else None


@contextmanager
def _errors_naming(names: dict[Path, str]) -> Iterator[None]:
    """Re-raise a failed build's error with each temporary copy's path replaced by the name the person knows the
    file by; its row and column stay as the build gave them."""
    try:
        yield
    except REBUILD_ERRORS as error:
        text = str(error)
        for path, name in names.items():
            for shown in dict.fromkeys((str(path.resolve()), str(path))):
                text = text.replace(shown, name)
        if isinstance(error, InputError):
            error.path = next((name for path, name in names.items()
                               if error.path in (str(path), str(path.resolve()))), error.path)
        error.args = (text,)
        raise


SOURCES = {
    "contract": "Files in the data contract (accounts, interactions, optional MRR history)",
    "zendesk_stripe": "A Zendesk tickets export and a Stripe subscriptions export",
    "intercom_stripe": "An Intercom conversations export and a Stripe subscriptions export",
}


def import_and_rebuild(source: str, uploads: dict[str, bytes], db_path: Path, options: dict | None = None,
                       progress: Callable[[StageEvent], None] | None = None, names: dict[str, str] | None = None):
    """Convert a tool's exports with the importers, then build: returns (build result, conversion reports).
    `names` are the exports' own names as uploaded, which build_info records for the files converted from them
    and errors use (as rebuild_from_uploads)."""
    from pipelines.importers import import_intercom, import_stripe, import_zendesk

    options = options or {}
    folder = Path(tempfile.mkdtemp(prefix="retention-import-"))
    try:
        raw = folder / "raw"
        raw.mkdir()
        saved = {name: save_upload(content, raw, name) for name, content in uploads.items() if content}
        uploaded_as = {kind: (names or {}).get(kind) or path.name for kind, path in saved.items()}
        out = folder / "contract"
        tickets = "tickets" if source == "zendesk_stripe" else "conversations"
        converted_from = {"accounts": "subscriptions", "mrr_history": "subscriptions", "interactions": tickets}
        converted_as = {contract: f"{contract}.csv converted from {uploaded_as[kind]}"
                        for contract, kind in converted_from.items() if kind in uploaded_as}
        shown = {path: uploaded_as[kind] for kind, path in saved.items()}
        shown.update({out / f"{contract}.csv": name for contract, name in converted_as.items()})
        with _errors_naming(shown):
            reports = [import_stripe(saved["subscriptions"], out)]
            if source == "zendesk_stripe":
                reports.append(import_zendesk(saved["tickets"], out, timezone=options.get("timezone") or None,
                                              hours=options.get("hours", "calendar"),
                                              account_key=options.get("account_key", "domain")))
            else:
                reports.append(import_intercom(saved["conversations"], out))
            _record_uploaded_as(out / UPLOAD_RECORD, converted_as)
            result = build_database(out / "accounts.csv", out / "interactions.csv", db_path,
                                    mrr_history=out / "mrr_history.csv", progress=progress)
        return result, [r.to_text() for r in reports]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _record_uploaded_as(sidecar: Path, uploaded_as: dict[str, str]) -> None:
    """Add each contract file's origin to what the importers recorded in the sidecar (one entry per source)."""
    record = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
    for source, name in uploaded_as.items():
        record.setdefault(source, {})["uploaded_as"] = name
    sidecar.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")


def uploaded_names(info: dict) -> dict[str, str]:
    """Source -> the name its file was uploaded under, for a build from the Data page's uploads ({} otherwise)."""
    return {source: entry["uploaded_as"] for source, entry in _upload_record(info).items() if "uploaded_as" in entry}


def _upload_record(info: dict) -> dict[str, dict]:
    """What the sidecar beside the build's inputs recorded, per source (build_info.import_info_json)."""
    try:
        sidecars = json.loads(info.get("import_info_json") or "{}")
    except (TypeError, ValueError):
        return {}
    return {source: entry for sidecar in sidecars.values() if isinstance(sidecar, dict)
            for source, entry in sidecar.items() if isinstance(entry, dict)}


# The load report's counts in the words of the Data page, whose other messages speak of rejected rows and emptied values
LOAD_REPORT_COLUMNS = {"rows_read": "rows read", "rows_loaded": "rows loaded", "rows_dropped": "rows rejected",
                       "values_nulled": "values emptied", "rows_after_as_of": "rows after the as-of date"}


def load_report_table(report: pd.DataFrame) -> pd.DataFrame:
    """The load report with each input named as the Inputs table names it ("mrr history")."""
    return report.assign(source=report["source"].str.replace("_", " ")) if "source" in report else report


def inputs_table(info: dict) -> pd.DataFrame:
    """One row per input the build read, the file named as its owner knows it: an upload by the name it was sent
    under (the build read a temporary copy), any other by its path."""
    uploaded = uploaded_names(info)
    rows = [{"input": i["source"].replace("_", " "),
             "file": uploaded.get(i["source"], i["path"]),
             "format": i["format"], "rows": i["rows"],
             "size (MB)": None if i.get("size_bytes") is None else round(i["size_bytes"] / 1e6, 2),
             "SHA-256 (start)": None if not i.get("sha256") else i["sha256"][:16] + "…",
             "encoding": i.get("encoding")} for i in info["inputs"]]
    return pd.DataFrame(rows)


def built_message(result, names: dict[str, str]) -> str:
    """What a rebuild made, in one sentence for the person who uploaded: their files, the accounts and tickets
    loaded, the as-of date, and the rows left out if any."""
    loaded = {row["source"]: row for row in result.load_report}
    files = [literal(name) for name in names.values()] or ["your files"]
    listed = files[0] if len(files) == 1 else ", ".join(files[:-1]) + " and " + files[-1]
    counts = [f"{loaded[source]['rows_loaded']:,} {noun}" for source, noun in
              (("accounts", "accounts"), ("interactions", "tickets")) if source in loaded]
    dropped = sum(int(row.get("rows_dropped") or 0) for row in loaded.values())
    rejected = f" {dropped:,} rows were rejected: see Rejected rows above." if dropped else ""
    return (f"Built the database from {listed}: {' and '.join(counts)}, as-of {result.as_of:%Y-%m-%d} "
            f"(build {result.build_id[:8]}, {result.seconds:.1f} s). Every page now reads it.{rejected}")


def planted_document(info: dict) -> dict | None:
    """The demo's planted truths for this build, or None for other data: those an upload of the demo's own files
    carried over (in build_info), else the demo's planted_effects.json beside the accounts file the build read."""
    accounts = next((i for i in info.get("inputs", []) if i["source"] == "accounts"), None)
    if accounts is None:
        return None
    uploaded = _upload_record(info).get("accounts", {})
    if "uploaded_as" in uploaded:  # the copy the build read is gone, and nothing beside it was the demo's
        return uploaded.get("planted_effects")
    planted_path = Path(accounts["path"]).parent / PLANTED_EFFECTS
    if not planted_path.exists():
        return None
    document = json.loads(planted_path.read_text())
    return document if _same_files(document, info) else None


def _same_files(document: dict, info: dict) -> bool:
    """Whether the build read the very files the demo wrote its truths for (every one it records, byte for byte);
    an edited copy beside the demo's planted_effects.json is other data. A document from before the demo recorded
    its files is taken at its word."""
    files = document.get("files")
    if files is None:
        return True
    read = {i["source"]: i.get("sha256") for i in info.get("inputs", [])}
    return all(read.get(source) == wrote["sha256"] for source, wrote in files.items() if source in read) and \
        read.get("accounts") is not None


def investment_case_vs_truth(planted: dict, naive: dict, adjusted: dict) -> pd.DataFrame | None:
    """On the demo, the true effect of the planted what-if beside the naive estimate (no case mix, its
    consequences held fixed) and the adjusted one (the factor's own model), each with its interval."""
    truth = next((w for w in planted.get("true_whatif", []) if w["factor"] == "first_response_hours"), None)
    if truth is None:
        return None
    rows = []
    for quantity, key, truth_key in (("accounts kept", "accounts_kept", "accounts_kept"),
                                     ("ARR kept ($)", "arr_kept", "arr_kept")):
        row = {"what-if": f"{truth['description']}, next {truth['horizon_days']} days", "quantity": quantity,
               "truth (from the demo's own hazards)": round(truth[truth_key], 1)}
        for name, result in (("naive: no case mix, consequences held fixed", naive),
                             ("adjusted: the factor's own model", adjusted)):
            r = result[key]
            row[name] = f"{r['estimate']:,.1f} ({r['ci_lower']:,.1f} – {r['ci_upper']:,.1f})"
            row[f"{name.split(':')[0]} interval holds the truth"] = bool(r["ci_lower"] <= truth[truth_key] <= r["ci_upper"])
        rows.append(row)
    return pd.DataFrame(rows)


def planted_causes(info: dict) -> dict | None:
    """The demo's planted churn causes (its `causes` section), or None for a demo without them or other data."""
    document = planted_document(info)
    return None if document is None else document.get("causes")


def cause_effects(drivers: pd.DataFrame, own: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Each modelled cause's (mutually adjusted effects, each factor's own model), from the build's cause tables."""
    return {cause: (drivers[drivers.churn_cause == cause], own[own.churn_cause == cause])
            for cause in drivers.churn_cause.unique()}


def involuntary_vs_recovered(causes: dict, own: pd.DataFrame | None) -> pd.DataFrame:
    """Each service factor's own model of involuntary churn beside the planted ratio of 1 (no service measure moves
    a failed payment): the recovered ratio, its 95% interval and whether 1 is inside."""
    planted = {e["factor"]: e["hazard_ratio"] for e in causes.get("involuntary", {}).get("effects", [])}
    rows = []
    for row in ([] if own is None else own.itertuples()):
        factor = next((f.name for f in FACTORS if f.name == row.factor), row.factor)
        column = FACTORS_BY_NAME[factor].column if factor in FACTORS_BY_NAME else factor
        truth = planted.get(factor, planted.get(column, 1.0))
        rows.append({"factor": label(factor) if factor in FACTORS_BY_NAME else factor, "term": row.term,
                     "planted hazard ratio": truth, "own model: recovered": round(float(row.hazard_ratio), 3),
                     "own model: 95% CI": f"{row.ci_lower:.3f} – {row.ci_upper:.3f}",
                     "own model: truth inside": bool(row.ci_lower <= truth <= row.ci_upper)})
    return pd.DataFrame(rows, columns=["factor", "term", "planted hazard ratio", "own model: recovered",
                                       "own model: 95% CI", "own model: truth inside"])


def planted_vs_recovered(info: dict, effects: pd.DataFrame, own: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """On the demo data, the planted hazard ratios beside the ones recovered: by the mutually adjusted drivers
    model (`effects`) and, when given, by each factor's own model (`own`, the one the pages act on)."""
    document = planted_document(info)
    if document is None:
        return None
    models = {"mutually adjusted": effects, "own model": own if own is not None else pd.DataFrame()}
    by_term = {name: frame.set_index("term") if not frame.empty else pd.DataFrame() for name, frame in models.items()}
    columns_of = {column: factor.name for factor in FACTORS for column in (factor.column, factor.name)}
    rows = []
    for effect in document["effects"]:
        factor = columns_of.get(effect["factor"], effect["factor"])
        truth = effect["hazard_ratio"]
        if factor == "csat":
            truth = 1 / truth  # planted per point higher; the model reports per point lower
        if factor == "plan":
            # the model's reference is the most common plan; a planted "X vs every other plan" shows as each
            # other plan against X, at the inverse ratio
            level = effect["term"].split("=", 1)[1]
            for other in [t for t in by_term["mutually adjusted"].index if t.startswith("plan=")]:
                rows.append({"factor": "plan", "term": f"{other} vs plan={level}",
                             "planted hazard ratio": round(1 / truth, 3),
                             **_recovered(by_term, other, 1 / truth, own_too=False)})
            continue
        term = f"{factor}: {effect['term']}" if factor == "bad_interactions_90d" else factor
        # a bad interaction's own model leaves the goodwill credits that follow it free (a consequence), so its
        # truth is the total effect the demo wrote beside the planted one, which holds credits at none
        total = effect.get("total_hazard_ratio")
        rows.append({"factor": label(factor) if factor in FACTORS_BY_NAME else factor, "term": effect["term"],
                     "planted hazard ratio": round(truth, 3),
                     "total effect, with the credits that follow": None if total is None else round(total, 3),
                     **_recovered(by_term, term, truth, own_truth=total)})
    return pd.DataFrame(rows)


def _recovered(by_term: dict[str, pd.DataFrame], term: str, truth: float, own_too: bool = True,
               own_truth: float | None = None) -> dict:
    """Each model's recovered ratio of one term, its 95% interval and whether the truth is inside: the planted
    value, or for the own model `own_truth` when given."""
    out: dict[str, object] = {}
    for name, table in by_term.items():
        if name == "own model" and (not own_too or table.empty):
            continue
        row = table.loc[term] if term in table.index else None
        target = own_truth if name == "own model" and own_truth is not None else truth
        out[f"{name}: recovered"] = None if row is None else round(float(row.hazard_ratio), 3)
        out[f"{name}: 95% CI"] = None if row is None else f"{row.ci_lower:.3f} – {row.ci_upper:.3f}"
        out[f"{name}: truth inside"] = None if row is None else bool(row.ci_lower <= target <= row.ci_upper)
    return out
