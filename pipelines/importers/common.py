"""What every importer shares: reading an export as it comes, units and time zones, joins, the report.

Owns the *file* side of an import (CSV; JSON array, `{"data": [...]}` or a single-list object such as
Zendesk's `{"tickets": [...]}`; NDJSON), the unit helpers (durations, epoch seconds, local time to
UTC, cents to major units), the account join with its match count, and the conversion report with its
rejects file and the `import_info.json` sidecar the build copies into `build_info`. The decoding, the
header's delimiter, the fingerprint and the spellings of "no value" are input_files.py's, which the
build's loader shares.

Row N in a report is the Nth record of the input: the Nth data row after a CSV header, the Nth element
of a JSON array, the Nth line of an NDJSON file. No row is dropped without a line in the report.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError
from ..input_files import EXPORT_NULL_TOKENS, decode_text, file_fingerprint, header_fields, latin1_warning

ISO_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DURATION_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
# Stripe's zero-decimal currencies (amounts are already whole units) and three-decimal ones
# (amounts are in thousandths); every other currency is in hundredths.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
THREE_DECIMAL_CURRENCIES = frozenset("bhd jod kwd omr tnd".split())
REJECT_COLUMNS = ["row", "column", "reason", "raw_value", "action"]


class ImportInputError(InputError):
    """An export cannot be converted at all; the message names the file (and row and column when known)."""


# ---------------------------------------------------------------------------------------------- reading


@dataclass
class Table:
    """One export read as it came: every field as text (CSV) or JSON values (JSON), plus `_row`."""

    path: Path
    file_format: str  # csv | json | ndjson
    frame: pd.DataFrame
    records: list[dict] | None = None  # the JSON records themselves, for nested lists (Stripe items)
    # records that could not be read at all (an NDJSON line that is not JSON, an array element that is
    # not an object): row, reason, raw text
    unreadable: list[tuple[int, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def column(self, *names: str) -> str | None:
        """The frame's column whose header matches one of `names` (case, spaces and '(UTC)' ignored)."""
        by_key: dict[str, str] = {}
        for header in self.frame.columns:
            by_key.setdefault(header_key(header), header)
        for name in names:
            found = by_key.get(header_key(name))
            if found is not None:
                return found
        return None

    def values(self, *names: str) -> pd.Series:
        """The first matching column as cleaned text (None for empty), or all None when absent."""
        header = self.column(*names)
        if header is None:
            return pd.Series([None] * len(self.frame), index=self.frame.index, dtype=object)
        return clean_text(self.frame[header])


def header_key(header: str) -> str:
    text = str(header).replace("\ufeff", "").strip().lower()
    text = re.sub(r"\s*\(utc\)\s*$", "", text)
    return re.sub(r"\s+", " ", text)


def clean_text(series: pd.Series) -> pd.Series:
    """Trimmed text, with every spelling of "no value" as None."""
    def one(value):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, (list, dict)):
            return json.dumps(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        text = str(value).strip()
        return None if text.lower() in EXPORT_NULL_TOKENS else text

    return series.map(one).astype(object)


def read_table(path: Path | str, what: str, list_keys: tuple[str, ...] = ()) -> Table:
    """Read an export, detecting CSV, a JSON array, a JSON object holding the records, or NDJSON.

    `list_keys` names the keys a JSON object may hold its records under besides `data` (Zendesk's
    `tickets`, Intercom's `conversations`); an object with a single list of objects is read too.
    """
    path = Path(path)
    if not path.exists():
        raise ImportInputError(path, f"{what} file not found")
    if path.is_dir():
        raise ImportInputError(path, f"{what} path is a folder; give the exported file itself")
    if path.stat().st_size == 0:
        raise ImportInputError(path, f"{what} file is empty (0 bytes)")
    text, encoding = decode_text(path, "CSV (UTF-8) or JSON")
    stripped = text.lstrip()
    if stripped.startswith("[") or stripped.startswith("{"):
        table = _read_json(path, text, what, list_keys)
    else:
        table = _read_csv(path, text, what)
    if encoding == "latin-1":
        table.notes.append(latin1_warning(path))
    return table


def _read_json(path: Path, text: str, what: str, list_keys: tuple[str, ...]) -> Table:
    unreadable: list[tuple[int, str, str]] = []
    notes: list[str] = []
    try:
        document = json.loads(text)
        file_format = "json"
    except json.JSONDecodeError as exc:
        if not text.lstrip().startswith("{") or "Extra data" not in str(exc):
            raise ImportInputError(path, f"is not valid JSON: {exc}") from None
        document, file_format = None, "ndjson"

    if file_format == "ndjson":
        records: list = []
        row = 0
        for line in text.splitlines():
            if not line.strip():
                continue
            row += 1
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                records.append(None)
                unreadable.append((row, f"line is not valid JSON ({exc.msg})", line[:200]))
    elif isinstance(document, list):
        records = document
    elif isinstance(document, dict):
        key = _records_key(document, list_keys)
        if key is None:
            records = [document]
            notes.append(f"{path.name} holds one JSON object; read as a single record")
        else:
            records = document[key]
            if key != "data":
                notes.append(f"records read from the {key!r} list of {path.name}")
    else:
        raise ImportInputError(path, f"is JSON but holds neither records nor a list of them ({type(document).__name__})")

    kept: list[dict] = []
    rows: list[int] = []
    for i, record in enumerate(records, start=1):
        if isinstance(record, dict):
            kept.append(record)
            rows.append(i)
        elif record is not None:
            unreadable.append((i, "not a JSON object", json.dumps(record)[:200]))
    frame = pd.json_normalize(kept) if kept else pd.DataFrame()
    frame.insert(0, "_row", rows)
    return Table(path=path, file_format=file_format, frame=frame, records=kept, unreadable=unreadable, notes=notes)


def _records_key(document: dict, list_keys: tuple[str, ...]) -> str | None:
    for key in ("data", *list_keys):
        if isinstance(document.get(key), list):
            return key
    lists = [k for k, v in document.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    return lists[0] if len(lists) == 1 else None


def _read_csv(path: Path, text: str, what: str) -> Table:
    delimiter, _ = header_fields(text, path, expected=f"the {what} export's column names")
    try:
        frame = pd.read_csv(io.StringIO(text, newline=""), sep=delimiter, dtype=str, keep_default_na=False,
                            quotechar='"', skipinitialspace=False, engine="python")
    except (pd.errors.ParserError, csv.Error) as exc:
        raise ImportInputError(path, f"is not a well-formed CSV table: {exc}") from None
    frame.insert(0, "_row", np.arange(1, len(frame) + 1))
    return Table(path=path, file_format="csv", frame=frame)


def require_columns(table: Table, what: str, needs: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Map each needed role to a column of the table, or fail naming the file and the columns found."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for role, names in needs.items():
        header = table.column(*names)
        if header is None:
            missing.append(f"{role} ({' or '.join(repr(n) for n in names)})")
        else:
            found[role] = header
    if missing:
        columns = [c for c in table.frame.columns if c != "_row"]
        raise ImportInputError(table.path, f"the {what} export lacks {', '.join(missing)}; columns found: {columns}",
                               column=missing[0].split(" ")[0])
    return found


def read_account_map(path: Path | str) -> dict[str, str]:
    """`source_key,account_id` → {normalised key: account_id}; keys compare case-insensitively."""
    table = read_table(path, "account map")
    cols = require_columns(table, "account map", {"source_key": ("source_key",), "account_id": ("account_id",)})
    keys = table.values(cols["source_key"]).map(normalise_key)
    ids = table.values(cols["account_id"])
    mapping: dict[str, str] = {}
    for row, key, account in zip(table.frame["_row"], keys, ids):
        if key is None or account is None:
            continue
        if key in mapping and mapping[key] != account:
            raise ImportInputError(path, f"source_key {key!r} maps to two accounts ({mapping[key]!r} and {account!r}); keep one",
                                   row=int(row), column="source_key")
        mapping[key] = account
    return mapping


def normalise_key(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = re.sub(r"\s+", " ", str(value)).strip().lower()
    return text or None


def email_domain(value) -> str | None:
    if not isinstance(value, str) or "@" not in value:
        return None
    return normalise_key(value.rsplit("@", 1)[1])


# ---------------------------------------------------------------------------------------------- units


def check_timezone(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportInputError("--timezone", f"{name!r} is not a time zone name; use an IANA name such as "
                               "Europe/Berlin or America/New_York") from None
    return name


OFFSET_PATTERN = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


@dataclass
class ParsedTimes:
    utc: pd.Series  # datetime64[ns, UTC], NaT where empty or unparseable
    bad: pd.Series  # bool: a value was there but did not parse
    n_naive: int  # values without an offset, read in the given (or assumed) zone
    n_ambiguous: int  # naive values in the repeated hour of a DST change


def parse_timestamps(values: pd.Series, fmt: str | None = "iso", tz: str | None = None) -> ParsedTimes:
    """Text or numbers → UTC. `fmt`: iso (offset honoured; naive read in `tz`, UTC when None), epoch_s,
    epoch_ms, or a strptime pattern. A value in the repeated hour of a DST change is taken as the first
    (summer-time) occurrence and counted, since the export cannot say which one it was."""
    text = clean_text(values)
    present = text.notna()
    fmt = fmt or "iso"
    n_naive = n_ambiguous = 0
    if fmt in ("epoch_s", "epoch_ms"):
        numbers = pd.to_numeric(text, errors="coerce")
        utc = pd.to_datetime(numbers, unit="s" if fmt == "epoch_s" else "ms", utc=True, errors="coerce")
    else:
        if fmt == "iso":
            has_offset = text.fillna("").str.contains(OFFSET_PATTERN)
            aware = pd.to_datetime(text.where(has_offset), format="ISO8601", utc=True, errors="coerce")
            naive = pd.to_datetime(text.where(~has_offset & present), format="ISO8601", errors="coerce")
        else:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc="%z" in fmt)
            if "%z" in fmt:
                aware, naive = parsed, pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
            else:
                aware, naive = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]"), parsed
        n_naive = int(naive.notna().sum())
        zone = tz or "UTC"
        summer = naive.dt.tz_localize(zone, ambiguous=np.ones(len(naive), bool), nonexistent="shift_forward")
        winter = naive.dt.tz_localize(zone, ambiguous=np.zeros(len(naive), bool), nonexistent="shift_forward")
        n_ambiguous = int((summer.notna() & (summer != winter)).sum())
        utc = aware.fillna(summer.dt.tz_convert("UTC"))
    utc = utc.astype("datetime64[ns, UTC]")
    return ParsedTimes(utc=utc, bad=present & utc.isna(), n_naive=n_naive, n_ambiguous=n_ambiguous)


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text → float; returns (numbers, bad) where bad marks a value that was there and is not a number."""
    text = clean_text(values)
    # "1,234.50" from a spreadsheet; a comma alone stays ambiguous (decimal or thousands) and is refused
    text = text.where(~text.fillna("").str.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?"), text.str.replace(",", ""))
    numbers = pd.to_numeric(text, errors="coerce")
    return numbers, text.notna() & numbers.isna()


def add_duration(start: pd.Series, amount: pd.Series, unit: str) -> pd.Series:
    """start + amount in `unit` (seconds, minutes, hours, days); NaT where either is missing."""
    return start + pd.to_timedelta(amount * DURATION_SECONDS[unit], unit="s")


def format_utc(times: pd.Series) -> pd.Series:
    return times.dt.strftime(ISO_UTC_FORMAT).where(times.notna(), "")


def format_date(times: pd.Series) -> pd.Series:
    return times.dt.strftime("%Y-%m-%d").where(times.notna(), "")


# ---------------------------------------------------------------------------------------------- report


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
