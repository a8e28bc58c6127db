"""Reading an export as it comes: CSV; JSON array, `{"data": [...]}` or a single-list object such as Zendesk's
`{"tickets": [...]}`; NDJSON. Also the account map and the keys an export joins on. The decoding, the header's
delimiter, the fingerprint and the spellings of "no value" are input_files.py's, which the build's loader shares.

Row N in a report is the Nth record of the input: the Nth data row after a CSV header, the Nth element of a JSON
array, the Nth line of an NDJSON file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..input_files import EXPORT_NULL_TOKENS, decode_text, header_fields, latin1_warning



class ImportInputError(InputError):
    """An export cannot be converted at all; the message names the file (and row and column when known)."""


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
