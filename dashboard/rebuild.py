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


def planted_vs_recovered(info: dict, effects: pd.DataFrame) -> pd.DataFrame | None:
    """On the demo data, the planted hazard ratios beside the ones the drivers model recovered."""
    document = planted_document(info)
    if document is None:
        return None
    planted = document["effects"]
    by_term = effects.set_index("term") if not effects.empty else pd.DataFrame()
    rows = []
    for effect in planted:
        term = {"per doubling": effect["factor"], "per +10 pp": effect["factor"], "per +1 point": effect["factor"],
                "any credited bad interaction": effect["factor"]}.get(effect["term"])
        if effect["factor"] == "bad_interactions_90d":
            term = f"bad_interactions_90d: {effect['term']}"
        truth = effect["hazard_ratio"]
        if effect["factor"] == "csat":
            truth = 1 / truth  # planted per point higher; the model reports per point lower
        if effect["factor"] == "plan" and term is None:
            # the model's reference is the most common plan; a planted "X vs every other plan" shows as
            # each other plan against X, at the inverse ratio
            level = effect["term"].split("=", 1)[1]
            for other in [t for t in by_term.index if t.startswith("plan=")]:
                r = by_term.loc[other]
                inverse = 1 / truth
                rows.append({"factor": "plan", "term": f"{other} vs plan={level}", "planted hazard ratio": round(inverse, 3),
                             "recovered": round(float(r.hazard_ratio), 3), "95% CI": f"{r.ci_lower:.3f} – {r.ci_upper:.3f}",
                             "planted value inside the CI": bool(r.ci_lower <= inverse <= r.ci_upper)})
            continue
        recovered = by_term.loc[term] if term is not None and term in by_term.index else None
        rows.append({
            "factor": effect["factor"], "term": effect["term"], "planted hazard ratio": truth,
            "recovered": None if recovered is None else round(float(recovered.hazard_ratio), 3),
            "95% CI": None if recovered is None else f"{recovered.ci_lower:.3f} – {recovered.ci_upper:.3f}",
            "planted value inside the CI": None if recovered is None else bool(recovered.ci_lower <= truth <= recovered.ci_upper),
        })
    return pd.DataFrame(rows)
