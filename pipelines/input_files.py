"""What reading any input file involves, for the build's loader (load.py) and the importers alike.

Owns the text side of a file a person brings: binary files refused, the bytes decoded (UTF-8 with or without a
BOM, Latin-1 as the fallback, said in a warning), the header row's delimiter, the file's fingerprint, and the
spellings of "no value".
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

from .errors import InputError

# How much of a file decides its encoding, delimiter and header: enough for any header and many rows, little
# enough to read at once from a file of any size.
SNIFF_BYTES = 256 * 1024
DELIMITERS = (",", ";", "\t")

# Spreadsheet and dataframe exports spell "no value" in many ways; ids are exempt (an id "NA" is real).
NULL_TOKENS = ("", "null", "none", "nan", "nat", "n/a", "na", "#n/a")
# A tool's own export also writes "-" for an empty field (Zendesk's priority), so the importers read it as no
# value. The build does not: a "-" in a contract file is reported as a value that does not parse, never emptied
# without a word.
EXPORT_NULL_TOKENS = frozenset({*NULL_TOKENS, "-"})


def file_fingerprint(path: Path | str) -> str:
    """The file's sha256, read in 1 MB chunks so a file of any size fits in memory."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def decode_text(path: Path, save_as: str, sample_bytes: int | None = None) -> tuple[str, str]:
    """(text, encoding) of the file, or of its first `sample_bytes`: UTF-8 (a BOM dropped) when it is valid, else
    Latin-1, which decodes any bytes. A file with NUL bytes is refused (InputError): it is binary, or UTF-16, which
    a spreadsheet writes and neither reader takes. `save_as` names the formats the message suggests."""
    with Path(path).open("rb") as handle:
        raw = handle.read() if sample_bytes is None else handle.read(sample_bytes)
    if b"\x00" in raw[:SNIFF_BYTES]:
        raise InputError(path, f"is not a text table: it contains binary (NUL) bytes. Save it as {save_as}; "
                         "UTF-16 spreadsheet exports must be re-saved as UTF-8")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        # a sample can end inside a multi-byte character: up to the cut it is still UTF-8
        if sample_bytes is not None and len(raw) == sample_bytes and exc.start >= len(raw) - 3:
            return raw[: exc.start].decode("utf-8-sig"), "utf-8"
    return raw.decode("latin-1"), "latin-1"


def latin1_warning(path: Path | str) -> str:
    """What a person is told when a file was read as Latin-1: an accent read wrongly is theirs to spot."""
    return f"{path}: not valid UTF-8; read as Latin-1 (ISO-8859-1). Check accented names look right."


def header_fields(text: str, path: Path, expected: str = "column names") -> tuple[str, list[str]]:
    """(delimiter, header fields) of a CSV text: the delimiter of DELIMITERS that splits the first record into the
    most fields, quotes respected. InputError when no delimiter gives a header; `expected` says what the first line
    should hold."""
    best: list[str] = []
    delimiter = ","
    error: csv.Error | None = None
    for candidate in DELIMITERS:
        try:
            fields = next(csv.reader(io.StringIO(text[:SNIFF_BYTES], newline=""), delimiter=candidate), [])
        except csv.Error as exc:  # another delimiter may still read it
            error = error or exc
            continue
        if len(fields) > len(best):
            best, delimiter = fields, candidate
    if not best and error is not None:
        raise InputError(path, f"the header row cannot be parsed as CSV: {error}", row=0)
    if not best:
        raise InputError(path, f"has no header row; expected {expected} on the first line")
    return delimiter, best
