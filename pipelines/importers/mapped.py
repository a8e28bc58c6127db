"""Any other tool's export → accounts or interactions, driven by a TOML mapping file.

The mapping names, per contract column, the source column and how to read it:

    source = "freshdesk"            # a name for the report and import_info.json
    kind = "interactions"           # accounts | interactions; must agree with --kind
    timezone = "Europe/Berlin"      # zone of timestamps written without an offset (default UTC)
    hours = "calendar"              # the clock durations are on (calendar | business), recorded
    csat_scale = "5-point survey"   # how csat was mapped, recorded
    account_map = "orgs.csv"        # optional source_key,account_id CSV, relative to this file

    [columns]
    interaction_id = "Ticket ID"                                   # just the column
    created_at = { from = "Created time", format = "%Y-%m-%d %H:%M:%S" }
    first_response_at = { from = "First response time (in hrs)", unit = "hours" }  # after created_at
    severity = { from = "Priority", map = { 1 = "low", 2 = "normal", 3 = "high", 4 = "urgent" } }
    channel = { value = "email" }                                  # a constant

    [segments]                       # accounts only: segment name = source column
    plan = "Plan"

Per column: `from` (header, case-insensitive) or `value`; `format` for timestamps (`iso`, `epoch_s`,
`epoch_ms` or a strptime pattern); `timezone`; `unit` for durations (`seconds`, `minutes`, `hours`,
`days`: added to created_at) and money (`cents` or `major`); `map` (source value → contract value,
case-insensitive; a value mapped to "" is deliberately empty, an unmapped one is emptied and reported);
`offset` added to a count, floored at 0 (assignee stations − 1 = handoffs).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd

from ..contract import ACCOUNTS, INTERACTIONS
from ..settings import SEVERITIES
from .reading import ImportInputError, read_account_map, read_table
from .units import DURATION_SECONDS, add_duration, check_timezone, format_date, parse_numbers, parse_timestamps
from .report import (ConversionReport, INTERACTION_ORDER, ambiguous_guess, check_known_accounts, finish_rows,
                     link_accounts, reject_missing_and_duplicates, whole_numbers, write_outputs)

KINDS = {"accounts": ACCOUNTS, "interactions": INTERACTIONS}
TIMESTAMP_COLUMNS = {"created_at", "first_response_at", "resolved_at", "signup_date", "churn_date"}
DURATION_AFTER_CREATED = {"first_response_at", "resolved_at"}
COUNT_COLUMNS = {"reopens", "handoffs", "agent_updates"}
MONEY_COLUMNS = {"mrr", "credit_amount"}
SPEC_KEYS = {"from", "value", "format", "timezone", "unit", "map", "offset"}
TOP_KEYS = {"source", "kind", "timezone", "hours", "csat_scale", "account_map", "columns", "segments", "description"}
REQUIRED = {"interactions": ("interaction_id", "account_id", "created_at"),
            "accounts": ("account_id", "signup_date", "mrr")}


def load_mapping(path: Path | str, kind: str) -> dict:
    """Read and check a mapping file; every problem names the file and the key."""
    path = Path(path)
    if kind not in KINDS:
        raise ImportInputError("--kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    try:
        mapping = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImportInputError(path, "mapping file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ImportInputError(path, f"is not valid TOML: {exc}") from None
    unknown = set(mapping) - TOP_KEYS
    if unknown:
        raise ImportInputError(path, f"unknown key(s) {sorted(unknown)}; expected some of {sorted(TOP_KEYS)}")
    if mapping.get("kind", kind) != kind:
        raise ImportInputError(path, f"maps {mapping['kind']!r} but --kind is {kind!r}", column="kind")
    columns = mapping.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ImportInputError(path, "needs a [columns] table naming a source column per contract column", column="columns")
    source = KINDS[kind]
    specs: dict[str, dict] = {}
    for name, spec in columns.items():
        if name not in source.column_names:
            raise ImportInputError(path, f"{name!r} is not a column of the {kind} contract "
                                   f"({', '.join(source.column_names)})", column=f"columns.{name}")
        spec = {"from": spec} if isinstance(spec, str) else dict(spec)
        bad = set(spec) - SPEC_KEYS
        if bad or ("from" not in spec and "value" not in spec):
            raise ImportInputError(path, f"columns.{name} needs 'from' (or 'value') and only keys from "
                                   f"{sorted(SPEC_KEYS)}; found {sorted(spec)}", column=f"columns.{name}")
        unit = spec.get("unit")
        allowed_units = set(DURATION_SECONDS) if name in DURATION_AFTER_CREATED else {"cents", "major"} \
            if name in MONEY_COLUMNS else set()
        if unit is not None and unit not in allowed_units:
            raise ImportInputError(path, f"columns.{name}: unit {unit!r} is not one of {sorted(allowed_units) or 'none'}",
                                   column=f"columns.{name}.unit")
        if "timezone" in spec:
            check_timezone(spec["timezone"])
        specs[name] = spec
    missing = [c for c in REQUIRED[kind] if c not in specs]
    if missing:
        raise ImportInputError(path, f"maps no source column to {', '.join(missing)}, which the {kind} contract needs",
                               column=f"columns.{missing[0]}")
    if mapping.get("hours", "calendar") not in ("calendar", "business"):
        raise ImportInputError(path, "hours must be calendar or business", column="hours")
    check_timezone(mapping.get("timezone"))
    mapping["columns"] = specs
    mapping["_path"] = path
    return mapping


def import_mapped(file: Path | str, mapping_path: Path | str, kind: str, out_dir: Path | str) -> ConversionReport:
    """Convert `file` into OUT/<kind>.csv as the mapping says; return the conversion report."""
    mapping = load_mapping(mapping_path, kind)
    out_dir = Path(out_dir)
    table = read_table(file, f"{kind} export")
    name = mapping.get("source", Path(mapping_path).stem)
    report = ConversionReport(source=f"mapped:{name}", input_path=Path(file), input_format=table.file_format,
                              rows_read=len(table.frame) + len(table.unreadable))
    report.flag_unreadable(table)
    report.notes.extend(table.notes)
    report.info.update(mapping=str(mapping_path), hours_basis=mapping.get("hours", "calendar"),
                       csat_scale=mapping.get("csat_scale"), timezone=mapping.get("timezone", "UTC"))
    specs = mapping["columns"]
    for column, spec in specs.items():
        if "from" in spec and table.column(spec["from"]) is None:
            raise ImportInputError(file, f"has no column {spec['from']!r}, which {mapping_path} maps to {column}; "
                                   f"columns found: {[c for c in table.frame.columns if c != '_row']}", column=spec["from"])
    frame = _MappedColumns(table, specs, report, mapping.get("timezone")).convert()
    if kind == "interactions":
        out = _finish_interactions(report, frame, mapping, Path(mapping_path), specs, out_dir)
    else:
        out = _finish_accounts(report, frame, mapping, Path(mapping_path), specs, table, file)
    write_outputs(report, out_dir, {kind: out}, kind)
    return report


def _label(specs: dict, column: str) -> str:
    """The export's own name for a contract column (what a person finds in the file)."""
    return specs[column].get("from", column)


class _MappedColumns:
    """Each mapped column of an export read, parsed and checked into its contract column; bad values flagged."""

    def __init__(self, table, specs: dict, report: ConversionReport, default_tz: str | None):
        self.table, self.specs, self.report, self.default_tz = table, specs, report, default_tz
        self.rows = table.frame["_row"]
        self.frame = pd.DataFrame({"_row": self.rows})
        self.naive = self.ambiguous = 0

    def convert(self) -> pd.DataFrame:
        # created_at first: durations are added to it
        for column in sorted(self.specs, key=lambda c: c not in ("created_at", "signup_date")):
            self.frame[column] = self._column(column, self.specs[column], self._raw(column))
        self._note_time_zones()
        return self.frame

    def _raw(self, column: str) -> pd.Series:
        spec = self.specs[column]
        if "value" in spec:
            return pd.Series([str(spec["value"])] * len(self.rows), index=self.rows.index, dtype=object)
        values = self.table.values(spec["from"])
        if "map" in spec:
            lookup = {str(k).strip().lower(): ("" if v is None else str(v)) for k, v in spec["map"].items()}
            mapped = values.map(lambda v: lookup.get(v.lower()) if isinstance(v, str) else None)
            unmapped = values.notna() & mapped.isna()
            self.report.flag(unmapped, self.rows, spec["from"], f"not in the mapping's value map for {column}",
                             values, "value_emptied")
            values = mapped.where(mapped != "")
        return values

    def _flag(self, bad: pd.Series, column: str, reason: str, values: pd.Series, action: str = "value_emptied"):
        self.report.flag(bad, self.rows, _label(self.specs, column), reason, values, action)

    def _column(self, column: str, spec: dict, values: pd.Series) -> pd.Series:
        if column in TIMESTAMP_COLUMNS and spec.get("unit") in DURATION_SECONDS:
            amount, bad = parse_numbers(values)
            self._flag(bad | (amount < 0), column, f"not a duration >= 0 in {spec['unit']}", values)
            return add_duration(self.frame["created_at"], amount.where(amount >= 0), spec["unit"])
        if column in TIMESTAMP_COLUMNS:
            parsed = parse_timestamps(values, fmt=spec.get("format", "iso"), tz=spec.get("timezone", self.default_tz))
            self.naive += parsed.n_naive
            self.ambiguous += parsed.n_ambiguous
            required = column in ("created_at", "signup_date")
            self._flag(parsed.bad, column, "not a date and time in the mapped format", values,
                       "row_dropped" if required else "value_emptied")
            if required:
                self._flag(values.isna(), column, "empty", values, "row_dropped")
            return parsed.utc
        if column in COUNT_COLUMNS:
            number, bad = parse_numbers(values)
            if "offset" in spec:
                number = (number + float(spec["offset"])).clip(lower=0)
            self._flag(bad | (number < 0), column, "not a whole number >= 0", values)
            return whole_numbers(number.where(number >= 0))
        if column in MONEY_COLUMNS:
            number, bad = parse_numbers(values)
            self._flag(bad, column, "not an amount", values, "value_emptied" if column != "mrr" else "row_dropped")
            return number / 100 if spec.get("unit") == "cents" else number
        if column == "severity":
            severity = values.str.lower()
            unknown = severity.notna() & ~severity.isin(SEVERITIES)
            self._flag(unknown, column, "not low, normal, high or urgent", values)
            return severity.where(~unknown)
        if column == "csat":
            number, bad = parse_numbers(values)
            outside = number.notna() & ~number.between(1, 5)
            self._flag(bad | outside, column, "not a rating 1 to 5", values)
            number = number.where(~outside)
            return whole_numbers(number) if (number.dropna() % 1 == 0).all() else number
        return values

    def _note_time_zones(self) -> None:
        if self.naive:
            if self.default_tz is None and not any("timezone" in s for s in self.specs.values()):
                self.report.guesses.append(f"time zone assumed UTC for {self.naive:,} timestamps without an offset; "
                                           "set timezone in the mapping")
                self.report.info["timezone"] = "UTC (assumed)"
            else:
                self.report.notes.append(f"{self.naive:,} timestamps without an offset read in the mapping's time zone")
        ambiguous_guess(self.report, self.ambiguous, self.default_tz)


def _finish_interactions(report: ConversionReport, frame: pd.DataFrame, mapping: dict, mapping_path: Path,
                         specs: dict, out_dir: Path) -> pd.DataFrame:
    rows = frame["_row"]
    account_map = None
    if mapping.get("account_map"):
        account_map = read_account_map(mapping_path.parent / mapping["account_map"])
        report.info["account_map"] = str(mapping_path.parent / mapping["account_map"])
    frame["account_id"] = link_accounts(report, rows, frame["account_id"], _label(specs, "account_id"), account_map,
                                        f"empty {_label(specs, 'account_id')}", what="rows")
    reject_missing_and_duplicates(report, rows, frame["interaction_id"], _label(specs, "interaction_id"))
    out = finish_rows(report, frame, INTERACTION_ORDER)
    check_known_accounts(report, out["account_id"], out_dir)
    return out


def _finish_accounts(report: ConversionReport, frame: pd.DataFrame, mapping: dict, mapping_path: Path,
                     specs: dict, table, file) -> pd.DataFrame:
    reject_missing_and_duplicates(report, frame["_row"], frame["account_id"], _label(specs, "account_id"))
    for column in ("signup_date", "churn_date"):
        if column in frame:
            frame[column] = format_date(frame[column])
    if "churn_date" not in frame:
        frame["churn_date"] = ""
        report.notes.append("no churn_date mapped: every account is taken as still a customer")
    for segment, header in (mapping.get("segments") or {}).items():
        if table.column(header) is None:
            raise ImportInputError(file, f"has no column {header!r}, which {mapping_path} maps to segment "
                                   f"{segment!r}", column=header)
        frame[segment] = table.values(header)
    return finish_rows(report, frame, ["account_id", "signup_date", "churn_date", "mrr"])
