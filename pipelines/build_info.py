"""What the build records about itself at the end (the tables whose header says `made by: build`): input_digests
and refresh_basis, what the next build's incremental refresh compares with; input_columns,
the columns each input had and what became of them, and build_info, this build's id, as-of date, tool, schema
version, settings, inputs (path, size, SHA-256), row counts and warnings; and the load report and reject summary it
returns."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from . import __version__
from .build_refresh import plan_sha256, settled_before
from .churn_reasons import ChurnReasons
from .contract import ACCOUNTS, INTERACTIONS, MRR_HISTORY
from .load import LoadedFile, is_url
from .plan import read_plan
from .schema import SCHEMA_VERSION
from .settings import BuildSettings
from .sqlrun import execute_template, file_fragment, identifier, insert_rows, run_file


def create_refresh_basis(con: duckdb.DuckDBPyConnection, engine: str, inputs_on_duckdb: bool, as_of: date,
                         reuse_digests_through: int | None = None) -> None:
    """input_digests, from the loader's views (while they are there), and refresh_basis. A Spark build whose inputs
    Spark read itself has none: DuckDB never saw those rows. With `reuse_digests_through` (a refresh's
    digests_to_reuse), the digests of the interactions up to that row are the refresh's, and only the rows after it
    are read."""
    for name in ("input_digests", "refresh_basis"):
        step = read_plan().step(name)
        run_file(con, step.layer_dir, step.file)
    since = settled_before(as_of)
    if inputs_on_duckdb:
        reused = reuse_digests_through is not None
        digest_rows = file_fragment("refresh", "input_digest_rows")
        query = file_fragment("refresh", "reused_input_digests", appended_digest_rows=digest_rows) if reused \
            else digest_rows
        params = {"after_row": reuse_digests_through or 0, "interaction_rows": 2 ** 62, "interactions_only": reused,
                  "settled_before": since}
        execute_template(con, "insert_query_rows", params, table=identifier("input_digests"), query=query)
    run_file(con, "queries", "refresh_basis_insert", {"plan_sha256": plan_sha256(), "engine": engine,
                                                      "has_input_digests": inputs_on_duckdb, "settled_before": since})


def create_input_columns(con: duckdb.DuckDBPyConnection, loaded: dict[str, LoadedFile]) -> None:
    rows = []
    for source in (ACCOUNTS, INTERACTIONS, MRR_HISTORY):
        file = loaded.get(source.name)
        for column in source.columns:
            header = file.mapped.get(column.name) if file else None
            rows.append([source.name, column.name, header, "contract", column.required, header is not None])
        if file:
            for name, header in file.segments.items():
                rows.append([source.name, name, header, "segment", False, True])
            for header in file.ignored:
                rows.append([source.name, None, header, "ignored", False, True])
    step = read_plan().step("input_columns")
    run_file(con, step.layer_dir, step.file)
    insert_rows(con, "input_columns", pd.DataFrame(
        rows, columns=["source", "column_name", "source_header", "role", "is_required", "is_available"]))


def recorded_path(path: Path | str) -> str:
    """An input's path as build_info records it: resolved, or the URL as given."""
    return str(path) if is_url(path) else str(Path(path).resolve())


def recorded_settings(settings: BuildSettings, churn_reasons: ChurnReasons) -> dict:
    """The settings as build_info records them (settings_json, with the as-of date the build used beside)."""
    return {**asdict(settings), "churn_reasons_used": churn_reasons.as_dict()}


def create_build_info(con: duckdb.DuckDBPyConnection, build_id: str, as_of: date, settings: BuildSettings,
                      churn_reasons: ChurnReasons, loaded: dict[str, LoadedFile], table_rows: dict[str, int],
                      warnings: list[str], seconds: float) -> None:
    inputs = [
        {
            "source": f.source,
            "path": recorded_path(f.path),
            "format": f.file_format,
            "size_bytes": f.size_bytes,
            "sha256": f.sha256,
            "rows": f.rows,
            "encoding": f.encoding,
            "delimiter": f.delimiter,
            **({"files": [path for path, _, _ in f.files]} if len(f.files) > 1 else {}),
        }
        for f in loaded.values()
    ]
    step = read_plan().step("build_info")
    run_file(con, step.layer_dir, step.file)
    run_file(con, "queries", "build_info_insert", {
        "build_id": build_id,
        "as_of_date": as_of,
        "built_at": datetime.now(timezone.utc).replace(tzinfo=None),
        "tool_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "duckdb_version": duckdb.__version__,
        "settings_json": json.dumps({**recorded_settings(settings, churn_reasons), "as_of": str(as_of)}),
        "inputs_json": json.dumps(inputs),
        "row_counts_json": json.dumps(table_rows),
        "warnings_json": json.dumps(warnings),
        "build_seconds": seconds,
        "import_info_json": json.dumps(_import_info(loaded)),
    })


def _import_info(loaded: dict[str, LoadedFile]) -> dict:
    """What `retention import` recorded beside the inputs (hours basis, CSAT scale, time zone ...), if any."""
    found = {}
    for file in loaded.values():
        if is_url(file.path):  # a lake table has no `retention import` beside it
            continue
        sidecar = Path(file.path).parent / "import_info.json"
        if sidecar.exists() and str(sidecar) not in found:
            try:
                found[str(sidecar)] = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                found[str(sidecar)] = {"error": "import_info.json could not be read"}
    return found


def reports(con: duckdb.DuckDBPyConnection) -> tuple[list[dict], list[dict], list[dict]]:
    """The load report, the most common reject reasons and the churn reasons the reasons file does not map, as the
    CLI prints them."""
    load_report = run_file(con, "queries", "load_report").df().to_dict("records")
    reject_summary = run_file(con, "queries", "reject_summary").df().to_dict("records")
    not_listed = run_file(con, "queries", "churn_reasons_not_listed").df().to_dict("records")
    return load_report, reject_summary, not_listed
