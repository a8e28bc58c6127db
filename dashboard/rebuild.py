"""Building a new database from files uploaded on the Data page, without ever blocking readers.

Uploads are written into a fresh temporary folder under names this module chooses (never a name
taken from the upload), then `build_database` builds beside the live file and swaps it in atomically:
the app keeps serving the old build until the new one is complete, and a bad file leaves it as it was.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd
from streamlit import config as streamlit_config

from pipelines.build import BuildError, StageEvent, build_database
from pipelines.load import PARQUET_MAGIC, InputError
from pipelines.models.factors import FACTORS, FACTORS_BY_NAME, label



def max_upload_mb() -> int:
    """Streamlit's own upload cap (server.maxUploadSize in .streamlit/config.toml), which this check repeats for
    files that come in another way."""
    return int(streamlit_config.get_option("server.maxUploadSize"))


class UploadError(ValueError):
    """An uploaded file cannot be used (too large or empty)."""


# What a rebuild from uploads can fail with, each with a message for the person who uploaded: a bad file, a failed
# build (the previous database is kept either way) or an upload that cannot be used.
REBUILD_ERRORS = (InputError, BuildError, ValueError)


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
                         progress: Callable[[StageEvent], None] | None = None):
    """Build db_path from uploaded bytes keyed by source (accounts, interactions, optional mrr_history)."""
    folder = Path(tempfile.mkdtemp(prefix="retention-upload-"))
    try:
        paths = {source: save_upload(content, folder, source) for source, content in uploads.items() if content}
        return build_database(paths.get("accounts", folder / "accounts.csv"),
                              paths.get("interactions", folder / "interactions.csv"),
                              db_path, mrr_history=paths.get("mrr_history"), progress=progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


SOURCES = {
    "contract": "Files in the data contract (accounts, interactions, optional MRR history)",
    "zendesk_stripe": "A Zendesk tickets export and a Stripe subscriptions export",
    "intercom_stripe": "An Intercom conversations export and a Stripe subscriptions export",
}


def import_and_rebuild(source: str, uploads: dict[str, bytes], db_path: Path, options: dict | None = None,
                       progress: Callable[[StageEvent], None] | None = None):
    """Convert a tool's exports with the importers, then build: returns (build result, conversion reports)."""
    from pipelines.importers import import_intercom, import_stripe, import_zendesk

    options = options or {}
    folder = Path(tempfile.mkdtemp(prefix="retention-import-"))
    try:
        raw = folder / "raw"
        raw.mkdir()
        saved = {name: save_upload(content, raw, name) for name, content in uploads.items() if content}
        out = folder / "contract"
        reports = [import_stripe(saved["subscriptions"], out)]
        if source == "zendesk_stripe":
            reports.append(import_zendesk(saved["tickets"], out, timezone=options.get("timezone") or None,
                                          hours=options.get("hours", "calendar"),
                                          account_key=options.get("account_key", "domain")))
        else:
            reports.append(import_intercom(saved["conversations"], out))
        result = build_database(out / "accounts.csv", out / "interactions.csv", db_path,
                                mrr_history=out / "mrr_history.csv", progress=progress)
        return result, [r.to_text() for r in reports]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def planted_document(info: dict) -> dict | None:
    """The demo's planted_effects.json beside the build's accounts file, or None for other data."""
    accounts = next((i for i in info.get("inputs", []) if i["source"] == "accounts"), None)
    if accounts is None:
        return None
    planted_path = Path(accounts["path"]).parent / "planted_effects.json"
    if not planted_path.exists():
        return None
    return json.loads(planted_path.read_text())


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
        rows.append({"factor": label(factor) if factor in FACTORS_BY_NAME else factor, "term": effect["term"],
                     "planted hazard ratio": round(truth, 3), **_recovered(by_term, term, truth)})
    return pd.DataFrame(rows)


def _recovered(by_term: dict[str, pd.DataFrame], term: str, truth: float, own_too: bool = True) -> dict:
    """Each model's recovered ratio of one term, its 95% interval and whether the planted value is inside."""
    out = {}
    for name, table in by_term.items():
        if name == "own model" and (not own_too or table.empty):
            continue
        row = table.loc[term] if term in table.index else None
        out[f"{name}: recovered"] = None if row is None else round(float(row.hazard_ratio), 3)
        out[f"{name}: 95% CI"] = None if row is None else f"{row.ci_lower:.3f} – {row.ci_upper:.3f}"
        out[f"{name}: planted inside"] = None if row is None else bool(row.ci_lower <= truth <= row.ci_upper)
    return out
