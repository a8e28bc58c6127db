"""The conversion report every importer fills: each problem by row and column, the account join with its match
count, the rejects file and the `import_info.json` sidecar the build copies into `build_info`. No row is dropped
without a line in the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..input_files import file_fingerprint
from .reading import Table, normalise_key
from .units import ISO_UTC_FORMAT, format_utc


REJECT_COLUMNS = ["row", "column", "reason", "raw_value", "action"]


@dataclass
class ConversionReport:
    """What one import did: rows read, converted, rejected with reasons, and every value it guessed."""

    source: str  # zendesk | intercom | stripe | mapped:<name>
    input_path: Path
    input_format: str
    rows_read: int = 0
    outputs: dict[str, Path] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)
    rejects_path: Path | None = None
    guesses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # recorded in import_info.json
    match: dict | None = None  # the account join: matched, unmatched, share, reasons
    _problems: list[pd.DataFrame] = field(default_factory=list, repr=False)

    def flag(self, mask: pd.Series, rows: pd.Series, column: str, reason: str, raw: pd.Series | str | None,
             action: str = "row_dropped") -> None:
        """Record one problem for every row where `mask` holds (vectorised)."""
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        if isinstance(raw, pd.Series):
            raw_values = raw[mask].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        else:
            raw_values = raw or ""
        self._problems.append(pd.DataFrame({
            "row": rows[mask].astype("int64").to_numpy(),
            "column": column,
            "reason": reason,
            "raw_value": raw_values if isinstance(raw_values, str) else raw_values.to_numpy(),
            "action": action,
        }))

    def flag_unreadable(self, table: Table) -> None:
        for row, reason, raw in table.unreadable:
            self._problems.append(pd.DataFrame([{"row": row, "column": "(record)", "reason": reason,
                                                 "raw_value": raw, "action": "row_dropped"}]))

    @property
    def problems(self) -> pd.DataFrame:
        if not self._problems:
            return pd.DataFrame(columns=REJECT_COLUMNS)
        return pd.concat(self._problems, ignore_index=True).sort_values(["row", "column"], kind="stable",
                                                                        ignore_index=True)

    @property
    def rows_rejected(self) -> int:
        p = self.problems
        return int(p.loc[p["action"] == "row_dropped", "row"].nunique())

    @property
    def values_emptied(self) -> int:
        p = self.problems
        return int((p["action"] == "value_emptied").sum())

    def dropped_rows(self) -> set[int]:
        p = self.problems
        return set(p.loc[p["action"] == "row_dropped", "row"].astype(int))

    def to_text(self) -> str:
        lines = [f"{self.source} import of {self.input_path} ({self.input_format})"]
        lines.append(f"  rows read        {self.rows_read:>8,}")
        converted = self.rows_read - self.rows_rejected
        lines.append(f"  rows converted   {converted:>8,}")
        lines.append(f"  rows rejected    {self.rows_rejected:>8,}" +
                     (f"   (each listed in {self.rejects_path})" if self.rejects_path and self.rows_rejected else ""))
        p = self.problems
        for action, title in (("row_dropped", "rejected because"), ("value_emptied", "values emptied")):
            part = p[p["action"] == action]
            if part.empty:
                continue
            if action == "value_emptied":
                lines.append(f"  values emptied   {len(part):>8,}   (row kept, value left empty; listed in "
                             f"{self.rejects_path})")
            summary = part.groupby(["column", "reason"], sort=False).size().sort_values(ascending=False)
            for (column, reason), n in summary.items():
                lines.append(f"    {n:>6,}  {column}: {reason}")
        if self.match is not None:
            m = self.match
            lines.append(f"  account match    {m['matched']:>8,} of {m['total']:,} rows linked by {m['key']} "
                         f"({m['matched_share']:.1%}); {m['unmatched']:,} ({m['unmatched_share']:.1%}) matched no account")
            for reason, n in m["reasons"].items():
                lines.append(f"    {n:>6,}  {reason}")
        for name, path in self.outputs.items():
            lines.append(f"  wrote {name:<16}{self.rows_written.get(name, 0):>8,} rows  {path}")
        if self.guesses:
            lines.append("  guessed (check these):")
            lines.extend(f"    - {g}" for g in self.guesses)
        if self.notes:
            lines.append("  notes:")
            lines.extend(f"    - {n}" for n in self.notes)
        return "\n".join(lines)


def link_accounts(report: ConversionReport, rows: pd.Series, keys: pd.Series, key_label: str,
                  account_map: dict[str, str] | None, no_key_reason: str | pd.Series, what: str = "tickets") -> pd.Series:
    """account_id per row: the key itself, or the key looked up in the account map.

    A row with no key, or a key the map lacks, is rejected with the reason, and the report carries
    the count and share of rows that matched no account.
    """
    norm = keys.map(normalise_key)
    if account_map is not None:
        account = norm.map(account_map)
    else:
        account = keys.where(norm.notna())
    no_key = norm.isna()
    not_mapped = norm.notna() & account.isna()
    if isinstance(no_key_reason, str):
        no_key_reason = pd.Series(no_key_reason, index=keys.index)
    reasons = {}
    for reason in no_key_reason[no_key].dropna().unique():
        mask = no_key & (no_key_reason == reason)
        report.flag(mask, rows, key_label, reason, keys)
        reasons[reason] = int(mask.sum())
    report.flag(not_mapped, rows, key_label, f"{key_label} not in the account map", keys)
    total = len(keys)
    unmatched = int(no_key.sum() + not_mapped.sum())
    if not_mapped.any():
        reasons[f"{key_label} not in the account map"] = int(not_mapped.sum())
    report.match = {
        "key": key_label + (" via the account map" if account_map is not None else ""),
        "what": what,
        "total": total,
        "matched": total - unmatched,
        "unmatched": unmatched,
        "matched_share": (total - unmatched) / total if total else 0.0,
        "unmatched_share": unmatched / total if total else 0.0,
        "reasons": reasons,
    }
    return account


def check_known_accounts(report: ConversionReport, account_ids: pd.Series, out_dir: Path) -> None:
    """If an accounts file already sits in the output folder, say how many rows name an account it lacks."""
    accounts_path = Path(out_dir) / "accounts.csv"
    if not accounts_path.exists():
        return
    known = set(pd.read_csv(accounts_path, dtype=str, usecols=["account_id"], keep_default_na=False)["account_id"])
    unknown = account_ids.notna() & ~account_ids.isin(known)
    n = int(unknown.sum())
    if n:
        report.notes.append(f"{n:,} converted rows name an account missing from {accounts_path}; the build will "
                            "drop them as 'not found among the loaded accounts'")
    else:
        report.notes.append(f"every converted row names an account in {accounts_path}")


def write_outputs(report: ConversionReport, out_dir: Path | str, frames: dict[str, pd.DataFrame],
                  rejects_name: str) -> None:
    """Write each frame as `<name>.csv`, the problems as `<rejects_name>_rejects.csv`, and import_info."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        path = out_dir / f"{name}.csv"
        frame.to_csv(path, index=False)
        report.outputs[name] = path
        report.rows_written[name] = len(frame)
    rejects_path = out_dir / f"{rejects_name}_rejects.csv"
    problems = report.problems
    problems.to_csv(rejects_path, index=False)
    report.rejects_path = rejects_path
    _write_import_info(report, out_dir, list(frames))


def _write_import_info(report: ConversionReport, out_dir: Path, kinds: list[str]) -> None:
    """Merge this import's facts into DIR/import_info.json under each output kind it wrote."""
    path = out_dir / "import_info.json"
    try:
        existing = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except json.JSONDecodeError:
        existing = {}
    entry = {
        "source": report.source,
        "input_path": str(report.input_path),
        "input_sha256": file_fingerprint(report.input_path),
        "input_format": report.input_format,
        "imported_at": datetime.now(timezone.utc).strftime(ISO_UTC_FORMAT),
        "tool_version": __version__,
        "rows_read": report.rows_read,
        "rows_rejected": report.rows_rejected,
        "values_emptied": report.values_emptied,
        "rows_written": dict(report.rows_written),
        "account_match": report.match,
        "guesses": list(report.guesses),
        **report.info,
    }
    for kind in kinds:
        existing[kind] = entry
    path.write_text(json.dumps(existing, indent=2, default=str) + "\n", encoding="utf-8")


def zone_guess(report: ConversionReport, n_naive: int, tz: str | None, column_hint: str) -> None:
    """Record which zone naive timestamps were read in; assuming UTC is a guess the user must see."""
    if n_naive == 0:
        return
    if tz is None:
        report.guesses.append(f"time zone assumed UTC for {n_naive:,} timestamps without an offset ({column_hint}); "
                              "pass --timezone with the zone the export was written in")
        report.info["timezone"] = "UTC (assumed)"
    else:
        report.notes.append(f"{n_naive:,} timestamps without an offset read in {tz} and converted to UTC")
        report.info["timezone"] = tz


def ambiguous_guess(report: ConversionReport, n: int, tz: str | None) -> None:
    if n:
        report.guesses.append(f"{n:,} timestamps fall in the repeated hour when {tz} leaves summer time; "
                              "taken as the first (summer-time) occurrence")


INTERACTION_ORDER = ["interaction_id", "account_id", "created_at", "first_response_at", "resolved_at", "channel",
                     "severity", "csat", "reopens", "handoffs", "escalated", "agent_updates", "credit_amount"]
TIMESTAMP_COLUMNS = ("created_at", "first_response_at", "resolved_at")


def reject_missing_and_duplicates(report: ConversionReport, rows: pd.Series, ids: pd.Series, id_label: str) -> None:
    """An empty id drops the row; a repeated id drops every later row (the first one wins, as in the build)."""
    report.flag(ids.isna(), rows, id_label, "empty id", ids)
    duplicate = ids.notna() & ids.duplicated(keep="first")
    if duplicate.any():
        first_row = rows.groupby(ids).transform("min")
        for first in first_row[duplicate].unique():
            mask = duplicate & (first_row == first)
            report.flag(mask, rows, id_label, f"duplicate id: row {int(first)} has it too", ids)


def finish_rows(report: ConversionReport, frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Drop the rows the report rejected, put columns in contract order, and write timestamps as UTC ISO text."""
    dropped = report.dropped_rows()
    kept = frame[~frame["_row"].isin(dropped)].copy()
    for column in TIMESTAMP_COLUMNS:
        if column in kept and pd.api.types.is_datetime64_any_dtype(kept[column]):
            kept[column] = format_utc(kept[column])
    columns = [c for c in order if c in kept.columns] + [c for c in kept.columns if c not in order and c != "_row"]
    return kept[columns]


def whole_numbers(values: pd.Series) -> pd.Series:
    """Counts as nullable integers, written without a trailing .0."""
    return values.round().astype("Int64")
