"""The input reader the build's loader and the importers share (pipelines/input_files.py): decoding with its Latin-1
fallback, binary files refused, the header's delimiter, the fingerprint, the spellings of "no value".

Each behaviour is tested here once, on a few literal bytes; the last tests show that both readers reach it, so a
file reads the same whichever way it comes in.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.contract import ACCOUNTS
from pipelines.errors import InputError, RetentionError
from pipelines.importers.reading import clean_text, read_table
from pipelines.input_files import (EXPORT_NULL_TOKENS, NULL_TOKENS, decode_text, file_fingerprint, header_fields,
                                   latin1_warning)
from pipelines.load import read_raw, text_or_null


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_utf8_with_a_bom_decodes_without_it(tmp_path):
    path = write(tmp_path / "a.csv", "\ufeffaccount_id,region\nA1,Zürich\n".encode("utf-8"))
    assert decode_text(path, "CSV") == ("account_id,region\nA1,Zürich\n", "utf-8")


def test_invalid_utf8_falls_back_to_latin1_with_accents_intact(tmp_path):
    path = write(tmp_path / "a.csv", "account_id,region\nA1,Zürich\n".encode("latin-1"))
    assert decode_text(path, "CSV") == ("account_id,region\nA1,Zürich\n", "latin-1")
    assert latin1_warning(path) == (f"{path}: not valid UTF-8; read as Latin-1 (ISO-8859-1). "
                                    "Check accented names look right.")


def test_a_sample_cut_inside_a_character_is_still_utf8(tmp_path):
    """'ü' is two bytes in UTF-8; a sample that ends after the first is UTF-8 up to the cut, not Latin-1."""
    content = "id\n" + "ü" * 10
    path = write(tmp_path / "a.csv", content.encode("utf-8"))
    cut = len(b"id\n") + 7  # three whole characters and half of the fourth
    assert decode_text(path, "CSV", sample_bytes=cut) == ("id\nüüü", "utf-8")
    assert decode_text(path, "CSV") == (content, "utf-8")
    # a lone lead byte anywhere but at the sample's cut is a real encoding problem
    broken = write(tmp_path / "b.csv", b"id\n\xc3 and more text after it")
    assert decode_text(broken, "CSV", sample_bytes=64)[1] == "latin-1"


def test_nul_bytes_are_refused_naming_the_file_and_what_to_save_it_as(tmp_path):
    path = write(tmp_path / "export.csv", "account_id\nA1\n".encode("utf-16"))
    with pytest.raises(InputError) as error:
        decode_text(path, "CSV (UTF-8) or JSON")
    assert error.value.path == str(path)
    assert str(error.value) == (f"{path}: is not a text table: it contains binary (NUL) bytes. Save it as CSV (UTF-8) "
                                "or JSON; UTF-16 spreadsheet exports must be re-saved as UTF-8")
    assert isinstance(error.value, RetentionError)


@pytest.mark.parametrize("text, delimiter, fields", [
    ("a,b;c\n1,2;3\n", ",", ["a", "b;c"]),
    ("a;b;c\n1;2;3\n", ";", ["a", "b", "c"]),
    ("a\tb\tc,d\n", "\t", ["a", "b", "c,d"]),
    ('"a;1",b,c\n', ",", ["a;1", "b", "c"]),  # a quoted delimiter does not split
])
def test_the_delimiter_is_the_one_that_splits_the_header_most(text, delimiter, fields):
    assert header_fields(text, Path("x.csv")) == (delimiter, fields)


def test_no_header_row_says_what_the_first_line_should_hold():
    with pytest.raises(InputError, match="x.csv: has no header row; expected the tickets export's column names"):
        header_fields("\n\n", Path("x.csv"), expected="the tickets export's column names")


def test_fingerprint_is_the_sha256_of_the_bytes(tmp_path):
    content = b"account_id\n" + b"A1\n" * 500_000  # over a 1 MB chunk
    path = write(tmp_path / "a.csv", content)
    assert file_fingerprint(path) == hashlib.sha256(content).hexdigest()


def test_exports_read_a_dash_as_no_value_and_the_build_does_not():
    assert set(EXPORT_NULL_TOKENS) == {*NULL_TOKENS, "-"}
    values = pd.Series([" N/A ", "-", "#n/a", "none", "Nan", "", "NA Corp", "0"])
    assert clean_text(values).tolist() == [None, None, None, None, None, None, "NA Corp", "0"]
    con = duckdb.connect()
    con.execute("create table t as select * from (values (' N/A '), ('-'), ('#n/a'), ('NA Corp'), ('')) v(x)")
    assert [r[0] for r in con.execute(f"select {text_or_null('x')} from t").fetchall()] == [None, "-", None, "NA Corp",
                                                                                            None]


def test_both_readers_refuse_a_binary_file_the_same_way(tmp_path):
    path = write(tmp_path / "accounts.csv", "account_id,signup_date,churn_date,mrr\n".encode("utf-16"))
    with pytest.raises(InputError, match="is not a text table: it contains binary \\(NUL\\) bytes. Save it as CSV "
                                         "\\(UTF-8\\) or Parquet"):
        read_raw(duckdb.connect(), path, ACCOUNTS)
    with pytest.raises(InputError, match="is not a text table: it contains binary \\(NUL\\) bytes. Save it as CSV "
                                         "\\(UTF-8\\) or JSON"):
        read_table(path, "accounts")


def test_both_readers_fall_back_to_latin1_with_the_same_warning(tmp_path):
    path = write(tmp_path / "accounts.csv", "account_id;signup_date;churn_date;mrr;region\n"
                                            "A1;2024-01-01;;10;Zürich\n".encode("latin-1"))
    loaded = read_raw(duckdb.connect(), path, ACCOUNTS)
    table = read_table(path, "accounts")
    assert loaded.warnings == table.notes == [latin1_warning(path)]
    assert loaded.delimiter == ";" and table.frame["region"].tolist() == ["Zürich"]
    assert loaded.sha256 == file_fingerprint(path)
