"""Read one input file (CSV or Parquet) into DuckDB exactly as it is, as text, with its row numbers.

Owns everything about the *file*: existence, size, format, encoding, delimiter, header, and the
mapping of its headers onto the contract's column names (the decoding, the delimiter, the fingerprint
and the spellings of "no value" are input_files.py's, shared with the importers). It never decides a
value's type: a CSV lands as VARCHAR in the table `raw_<source>`, a Parquet file is the view
`raw_<source>` over the file (text, except contract columns whose Parquet type is already of their
kind), and the typing rules live in the staging SQL, so a bad value becomes a row in `rejected_rows`
instead of a failed cast.

Row numbers: row N is the Nth data row after the header (in a file with no field spanning lines,
that is line N + 1). An input can also be a folder or a glob of Parquet files, as a data lake holds a
table: its files are read in the order of their paths, and a row's number counts on through them (the
first row of the second file follows the last of the first). Each file's first row is recorded
(`LoadedFile.files`), so a reject names the file and the row within it as well.
"""

from __future__ import annotations

import glob
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from .contract import BUILT_COLUMN_NAMES, Source
from .errors import InputError
from .input_files import NULL_TOKENS, SNIFF_BYTES, decode_text, file_fingerprint, header_fields, latin1_warning
from .sqlrun import (TrustedSql, create_table_as, execute_template, file_fragment, identifier, quote_ident,
                     row_count, run_file)

PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = (".parquet", ".pq")
GLOB_CHARACTERS = ("*", "?", "[")


@dataclass
class LoadedFile:
    """What the loader learned about one input file."""

    source: str
    path: Path | str  # text for a URL that Spark reads itself (see input_location)
    file_format: str  # csv | parquet
    size_bytes: int | None  # None (and no sha256) for a URL: Spark reads it, the loader never opens it
    sha256: str | None
    rows: int
    headers: list[str]
    # contract column -> header as found in the file (only the ones present)
    mapped: dict[str, str]
    # segment column name (as stored) -> header as found in the file
    segments: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str | None = None
    warnings: list[str] = field(default_factory=list)
    # each file read, in row order: (path, its first row's number, its rows); one entry for a single file
    files: list[tuple[str, int, int]] = field(default_factory=list)


# a URL (s3a://bucket/table, hdfs://..., file:///...): read by Spark itself with --engine spark
URL_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def input_location(text: str) -> Path | str:
    """An input as given on the command line: a URL stays text (a Path would fold its '//'), the rest a Path."""
    return text if URL_PATTERN.match(text) else Path(text)


def is_url(path: Path | str) -> bool:
    return isinstance(path, str) and bool(URL_PATTERN.match(path))


def lake_files(path: Path | str, source: str) -> list[Path] | None:
    """The Parquet files of a folder (and its sub-folders, as a partitioned table keeps them) or of a glob, in
    the order of their paths as text; None when `path` is a single file. Files whose name starts with '.' or
    '_' are skipped, as Spark and Hive skip them (`_SUCCESS`, `.part-0.crc`)."""
    text = str(path)
    if not Path(path).exists() and any(c in text for c in GLOB_CHARACTERS):  # "exports [old]/a.csv" is a file
        matched = [Path(p) for p in glob.glob(text, recursive=True)]
        files = sorted((p for p in matched if p.is_file() and not p.name.startswith((".", "_"))), key=str)
        if not files:
            raise InputError(path, f"no file matches this {source} pattern; give a file, a folder of Parquet files "
                             "or a glob such as 'folder/*.parquet'")
        others = [p for p in files if p.suffix.lower() not in PARQUET_SUFFIXES and _detect_format(p) != "parquet"]
        if others:
            raise InputError(others[0], f"is not a Parquet file: a glob of {source} files must match Parquet files "
                             "only (a CSV input is one file)")
        return files
    path = Path(path)
    if not path.is_dir():
        return None
    files = sorted((p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES
                    and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)), key=str)
    if not files:
        raise InputError(path, f"{source} folder holds no Parquet files (*.parquet); give a CSV or Parquet file, "
                         "or a folder of Parquet files")
    return files


def _check_file(path: Path, source: str) -> int:
    if not path.exists():
        raise InputError(path, f"{source} file or folder not found")
    size = path.stat().st_size
    if size == 0:
        raise InputError(path, f"{source} file is empty (0 bytes); expected a CSV or Parquet file with a header row")
    return size


def _detect_format(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4)
    if head == PARQUET_MAGIC or path.suffix.lower() in (".parquet", ".pq"):
        return "parquet"
    return "csv"


def _reject_json(text: str, path: Path) -> None:
    """A JSON document split on commas would 'parse' as a garbled header; say what it is instead."""
    if re.match(r"\s*(\{|\[\s*([\[{\"\]]|$))", text):
        raise InputError(
            path,
            "looks like a JSON document, not a table. Export it as CSV (a header row, then one row per record) or Parquet",
        )


def _column_names(header: list[str]) -> list[str]:
    """Names for the raw table's columns, one per header field, unique as DuckDB needs (case-insensitively).

    Spelled as DuckDB's own header detection spells them (empty -> columnN, repeats -> name_1), so segment
    names do not depend on which reader produced the table.
    """
    names: list[str] = []
    taken: set[str] = set()
    for i, field_name in enumerate(header):
        base = field_name if field_name.strip() else f"column{i}"
        name, n = base, 1
        while name.lower() in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name.lower())
        names.append(name)
    return names


def _csv_error_message(path: Path, exc: Exception) -> InputError:
    message = str(exc)
    line = re.search(r"CSV Error on Line:\s*(\d+)", message)
    first = message.splitlines()[0] if message else type(exc).__name__
    detail = next(
        (m for m in message.splitlines() if "Expected Number of Columns" in m or "unterminated quote" in m), ""
    )
    text = "is not a well-formed CSV table"
    if line:
        text += f" at line {line.group(1)}"
    text += f": {(detail or first).rstrip('.')}. Every row must have the same number of fields as the header; quote fields that contain the delimiter."
    return InputError(path, text)


def read_raw(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> LoadedFile:
    """Make raw_<source> (_row plus the file's columns: see the module docstring) and describe what was found."""
    if is_url(path):
        raise InputError(path, f"the {source.name} input is a URL, which the DuckDB engine does not read: give a "
                         "local file, folder or glob, or build with --engine spark, which reads it itself")
    many = lake_files(path, source.name)
    path = Path(path)
    files = many or [path]
    size = sum(_check_file(file, source.name) for file in files)
    file_format = "parquet" if many else _detect_format(path)
    table = f"raw_{source.name}"
    warnings: list[str] = []
    encoding, delimiter = "utf-8", None

    if file_format == "parquet":
        first_rows = _parquet_view(con, files, source, table)
    else:
        sample, encoding = decode_text(path, "CSV (UTF-8) or Parquet", sample_bytes=SNIFF_BYTES)
        warnings = [latin1_warning(path)] if encoding == "latin-1" else []
        _reject_json(sample, path)
        delimiter, header = header_fields(sample, path)
        # the header decides the columns, so a file that lacks one fails here, before its body is read
        _require_columns(path, header, source)
        columns = {name: "VARCHAR" for name in _column_names(header)}
        last_error: Exception | None = None
        for attempt_encoding in dict.fromkeys([encoding, "latin-1"]):
            try:
                # the header parsed above gives the columns (the query file says why DuckDB may not sniff them)
                create_table_as(con, f"{table}_text", file_fragment("queries", "csv_text_rows"),
                                {"path": str(path), "delim": delimiter, "columns": columns,
                                 "encoding": attempt_encoding}, temporary=True)
                if attempt_encoding != encoding:
                    warnings.append(latin1_warning(path))
                encoding = attempt_encoding
                last_error = None
                break
            except duckdb.Error as exc:
                last_error = exc
                if "unicode" not in str(exc).lower():
                    break
        if last_error is not None:
            raise _csv_error_message(path, last_error) from None
        create_table_as(con, table, file_fragment("queries", "numbered_rows", rows=identifier(f"{table}_text")), {},
                        temporary=True)
        execute_template(con, "drop_if_exists", object=TrustedSql("table"), target=identifier(f"{table}_text"))

    headers = [name for name, _ in table_columns(con, table)][1:]
    rows = row_count(con, table)
    loaded = LoadedFile(
        source=source.name,
        path=path,
        file_format=file_format,
        size_bytes=size,
        sha256=_fingerprint(files),
        files=first_rows if many else [(str(path), 1, rows)],
        rows=rows,
        headers=headers,
        mapped={},
        encoding=encoding,
        delimiter=delimiter,
        warnings=warnings,
    )
    map_headers(loaded, source)
    if rows == 0 and not source.may_be_empty:
        raise InputError(path, f"has a header but no data rows; the {source.name} file must list at least one account")
    return loaded


def _fingerprint(files: list[Path]) -> str:
    """One file's sha256; for several, the sha256 of their paths and digests (any file changed changes it)."""
    if len(files) == 1:
        return file_fingerprint(files[0])
    return hashlib.sha256("".join(f"{f}\0{file_fingerprint(f)}\n" for f in files).encode()).hexdigest()


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """Each column of `table` (or a view), in order: its name and its DuckDB type."""
    return execute_template(con, "table_columns", table=identifier(table)).fetchall()


def _parquet_view(con: duckdb.DuckDBPyConnection, files: list[Path], source: Source, name: str) -> list[tuple]:
    """View `name` over the Parquet file(s): _row, then the columns, text unless the contract takes the type as
    is; for several files, returns each file's (path, first row, rows).

    A view, not a table: Parquet is columnar and typed, so scanning the file again costs less than writing a
    copy into the database. A contract column whose Parquet type is already of its kind (a TIMESTAMP
    created_at, a numeric mrr) stays typed, so it is not printed as text only to be parsed back; every other
    column becomes text, and the staging SQL types it (and rejects what does not parse) as it does for CSV.

    Several files are one table by column name (a column a file lacks is NULL there), and a row's number
    counts on through the files in path order: each file's first row number is joined in from the table
    `<name>_files` by the file's name.
    """
    paths = [str(f) for f in files]
    lake = len(files) > 1
    counts = []
    for file in paths if lake else []:  # one file at a time, so the message names a file that is not Parquet
        try:
            counts.append(run_file(con, "queries", "parquet_file_rows", {"path": file}).fetchall()[0][0])
        except duckdb.Error as exc:
            raise InputError(file, f"cannot be read as Parquet: {str(exc).splitlines()[0]}") from None
    try:
        scan = con.read_parquet(paths if lake else paths[0], file_row_number=True, filename=lake,
                                union_by_name=lake)
        types = {column: str(kind) for column, kind in zip(scan.columns, scan.types)
                 if column not in ("file_row_number", "filename")}
    except duckdb.Error as exc:
        raise InputError(files[0] if not lake else files[0].parent,
                         f"cannot be read as Parquet: {str(exc).splitlines()[0]}") from None
    parts = ["file_row_number + 1 as _row"]
    first_rows = []
    if lake:
        first = [1 + sum(counts[:i]) for i in range(len(counts))]
        first_rows = list(zip(paths, first, counts))
        con.register("lake_first_rows", pd.DataFrame({"filename": paths, "first_row": first}))
        try:
            create_table_as(con, f"{name}_files", file_fragment("queries", "lake_first_rows"), {})
        finally:
            con.unregister("lake_first_rows")
        scan = scan.join(con.table(f"{name}_files"), "filename")
        parts = ["first_row + file_row_number as _row"]
    for header, duckdb_type in types.items():
        column = source.column(normalise_header(header))
        quoted = quote_ident(header)
        typed = column is not None and column.accepts_native(duckdb_type)
        parts.append(quoted if typed else f"cast({quoted} as varchar) as {quoted}")
    scan.project(", ".join(parts)).create_view(name, replace=True)
    return first_rows


def normalise_header(header: str) -> str:
    """A header as the contract names are compared with it: outer spaces and a BOM off, lower case."""
    return header.strip().lstrip("\ufeff").strip().lower()


def _require_columns(path: Path | str, headers: list[str], source: Source) -> None:
    """Every required contract column is present, and no contract column twice (case and outer spaces ignored)."""
    found: dict[str, list[str]] = {}
    for header in headers:
        found.setdefault(normalise_header(header), []).append(header)
    for name in source.column_names:
        if len(found.get(name, [])) > 1:
            raise InputError(path, f"{len(found[name])} columns map to {name!r}: {found[name]}; keep one", column=name)
    missing = [name for name in source.required_names if name not in found]
    if missing:
        hint = ""
        if len(headers) == 1:
            hint = " The file has a single column: it may not be a table, or uses a delimiter other than comma, semicolon or tab."
        raise InputError(
            path,
            f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"in the {source.name} file; columns found: {headers}.{hint}",
            column=missing[0],
        )


def map_headers(loaded: LoadedFile, source: Source) -> None:
    """Fill `loaded.mapped`, `segments` and `ignored` from its headers (an InputError when a required column is
    missing)."""
    _require_columns(loaded.path, loaded.headers, source)
    by_name = {normalise_header(header): header for header in loaded.headers}
    for name in source.column_names:
        if name in by_name:
            loaded.mapped[name] = by_name[name]
    extras = [h for h in loaded.headers if normalise_header(h) not in source.column_names]
    if not source.extra_columns_are_segments:
        loaded.ignored = extras
        return
    taken = {name.lower() for name in source.column_names}
    for header in extras:
        name = header.strip() or "unnamed"
        if name.lower() in BUILT_COLUMN_NAMES:
            loaded.warnings.append(f"{loaded.path}: column {header!r} has the name of a built column; kept as segment {name + ' (input)'!r}")
            name = f"{name} (input)"
        base, n = name, 2
        while name.lower() in taken:  # DuckDB names are case-insensitive
            name, n = f"{base} ({n})", n + 1
        taken.add(name.lower())
        loaded.segments[name] = header


def text_or_null(column_sql: str) -> str:
    """SQL for a column's trimmed text, NULL when it spells "no value" (column_sql: a quoted identifier)."""
    value = f"trim({column_sql})"
    tokens = ", ".join(f"'{t}'" for t in NULL_TOKENS)  # constants of input_files.py, never user text
    return f"(case when lower({value}) in ({tokens}) then null else {value} end)"


def create_source_view(con: duckdb.DuckDBPyConnection, loaded: LoadedFile, source: Source) -> None:
    """View src_<source>: _row plus every contract column, trimmed text (NULL when absent or empty).

    A Parquet column the contract takes as is (see _parquet_view) keeps its type; a float NaN is NULL, as
    its text 'nan' would be.
    """
    types = dict(table_columns(con, f"raw_{source.name}"))
    execute_template(con, "create_view_as", view=identifier(f"src_{source.name}"),
                     query=TrustedSql(source_query(loaded, source, types)))


def source_query(loaded: LoadedFile, source: Source, types: dict[str, str]) -> str:
    """The SELECT of src_<source> from raw_<source>, whose columns have these (DuckDB) types; DuckDB SQL, which
    the Spark engine transpiles when Spark read the input itself."""
    parts = ["_row"]
    for column in source.columns:
        name = column.name
        header = loaded.mapped.get(name)
        if header is None:
            parts.append(f"cast(null as varchar) as {name}")
            continue
        quoted = quote_ident(header)
        if types[header] in ("FLOAT", "DOUBLE"):
            parts.append(f"(case when isnan({quoted}) then null else {quoted} end) as {name}")
        elif types[header] != "VARCHAR":
            parts.append(f"{quoted} as {name}")
        elif column.kind == "id":
            parts.append(f"nullif(trim({quoted}), '') as {name}")
        else:
            parts.append(f"{text_or_null(quoted)} as {name}")
    return f"select {', '.join(parts)} from raw_{source.name}"


def create_empty_source_view(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """An absent optional input behaves as a file with the header and no rows."""
    parts = ["cast(null as bigint) as _row"] + [f"cast(null as varchar) as {name}" for name in source.column_names]
    execute_template(con, "create_view_as", view=identifier(f"src_{source.name}"),
                     query=TrustedSql(f"select {', '.join(parts)} where false"))
