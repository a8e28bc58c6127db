"""Bad input to every `retention` command: exit 2 and a message that says what to change, never a traceback.

The CLI catches the one error type a person can cause (pipelines.errors.RetentionError); argparse's own usage errors
exit 2 as well. A command added without a case here fails test_every_command_has_bad_input_cases.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from pipelines.cli import build_parser, main

# (command, argv, a fragment of the message); {tmp} is a fresh folder, {db} the small demo's database, {binary} a
# UTF-16 file (NUL bytes), {missing} a path with nothing there
CASES = [
    ("demo", ["demo", "--accounts", "0", "--out", "{tmp}/demo"], "the number of accounts must be a whole number >= 1"),
    ("demo", ["demo", "--accounts", "-5", "--out", "{tmp}/demo"], "the number of accounts must be a whole number >= 1"),
    ("demo", ["demo", "--seed", "-1", "--out", "{tmp}/demo"], "the seed must be a whole number >= 0"),
    ("demo", ["demo", "--accounts", "many"], "invalid int value: 'many'"),
    ("build", ["build", "--accounts", "{missing}", "--interactions", "{missing}", "--db", "{tmp}/r.duckdb"],
     "accounts file or folder not found"),
    ("build", ["build", "--accounts", "{binary}", "--interactions", "{binary}", "--db", "{tmp}/r.duckdb"],
     "contains binary (NUL) bytes"),
    ("build", ["build", "--accounts", "a.csv", "--interactions", "i.csv", "--sla", "urgent=soon", "--db",
               "{tmp}/r.duckdb"], "--sla: 'soon' for urgent is not a number of hours"),
    ("build", ["build", "--accounts", "a.csv", "--interactions", "i.csv", "--drivers-sample", "10", "--db",
               "{tmp}/r.duckdb"], "--drivers-sample must be at least 1000"),
    ("build", ["build", "--accounts", "a.csv", "--interactions", "i.csv", "--spark-output", "out", "--db",
               "{tmp}/r.duckdb"], "need --engine spark"),
    ("build", ["build", "--accounts", "a.csv", "--interactions", "i.csv", "--causal-structure", "{missing}", "--db",
               "{tmp}/r.duckdb"], "does not exist"),
    ("drivers", ["drivers", "--db", "{missing}"], "no database here"),
    ("drivers", ["drivers", "--db", "{binary}"], "cannot be opened as a DuckDB database"),
    ("drivers", ["drivers", "--db", "{db}", "--factors", "speed_of_light", "--no-factor-models"], "speed_of_light"),
    ("drivers", ["drivers", "--db", "{db}", "--filter", "galaxy=Andromeda", "--no-factor-models"], "galaxy"),
    ("km", ["km", "--db", "{missing}"], "no database here"),
    ("km", ["km", "--db", "{binary}"], "cannot be opened as a DuckDB database"),
    ("km", ["km", "--db", "{db}", "--by", "galaxy"], "galaxy"),
    ("km", ["km", "--db", "{db}", "--filter", "plan"], "expected COLUMN=VALUE"),
    ("revenue", ["revenue", "--db", "{missing}"], "no database here"),
    ("revenue", ["revenue", "--db", "{binary}"], "cannot be opened as a DuckDB database"),
    ("revenue", ["revenue", "--db", "{db}", "--format", "xml"], "invalid choice: 'xml'"),
    ("whatif", ["whatif", "--db", "{db}", "--factor", "first_response_hours", "--factor", "csat", "--change", "-50%"],
     "2 --factor but 1 --change"),
    ("whatif", ["whatif", "--db", "{db}", "--factor", "first_response_hours", "--change", "faster"], "faster"),
    ("whatif", ["whatif", "--db", "{db}", "--factor", "speed_of_light", "--change", "-50%"], "speed_of_light"),
    ("whatif", ["whatif", "--db", "{db}", "--factor", "first_response_hours", "--change", "-50%", "--horizon-days",
                "0"], "the horizon must be a positive number of days"),
    ("risk", ["risk", "--db", "{db}", "--top", "-1"], "--top must be 0 (all) or a positive number"),
    ("risk", ["risk", "--db", "{missing}"], "no database here"),
    ("risk", ["risk", "--db", "{binary}"], "cannot be opened as a DuckDB database"),
    ("whatif", ["whatif", "--db", "{binary}", "--factor", "first_response_hours", "--change", "-50%"],
     "cannot be opened as a DuckDB database"),
    ("import", ["import", "zendesk", "{missing}", "--out", "{tmp}/out"], "Zendesk tickets file not found"),
    ("import", ["import", "zendesk", "{missing}", "--timezone", "Mars/Olympus", "--out", "{tmp}/out"],
     "'Mars/Olympus' is not a time zone name"),
    ("import", ["import", "stripe", "{binary}", "--out", "{tmp}/out"], "contains binary (NUL) bytes"),
    ("import", ["import", "mapped", "{binary}", "--mapping", "{missing}", "--kind", "accounts", "--out", "{tmp}/out"],
     "mapping file not found"),
    ("forecast", ["forecast", "--db", "{missing}"], "no database here"),
    ("forecast", ["forecast", "--db", "{binary}"], "cannot be opened as a DuckDB database"),
    ("forecast", ["forecast", "--db", "{db}", "--months", "0"], "forecast at least one month ahead"),
    ("forecast", ["forecast", "--db", "{db}", "--draws", "10"], "give at least 100 draws"),
    ("forecast", ["forecast", "--db", "{db}", "--as-of", "last tuesday"], "invalid fromisoformat value"),
    ("forecast", ["forecast", "--db", "{db}", "--filter", "galaxy=Andromeda"], "galaxy"),
    ("serve", ["serve", "--config", "{missing}"], "The server was not started."),
    ("bench", ["bench", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    ("report", ["report", "overview", "--db", "{binary}", "--out", "{tmp}/o.pdf"],
     "cannot be opened as a DuckDB database"),
    ("digest", ["digest", "--config", "{binary}"], "not UTF-8 text"),
    ("evaluate", ["evaluate", "--db", "{missing}", "--name", "x", "--date", "2025-07-01", "--treated", "region=EMEA"],
     "no database here"),
    ("evaluate", ["evaluate", "--db", "{db}", "--name", "x", "--date", "someday", "--treated", "region=EMEA"],
     "'someday' is not a date"),
    ("evaluate", ["evaluate", "--db", "{db}", "--name", "x"], "say when the change started"),
    ("evaluate", ["evaluate", "--db", "{db}", "--name", "x", "--events", "{missing}"], "no events file here"),
    ("evaluate", ["evaluate", "--db", "{db}", "--name", "x", "--date", "2025-07-01", "--design", "did"],
     "no comparison group; use interrupted time series"),
    ("evaluate", ["evaluate", "--db", "{db}", "--name", "x", "--date", "2025-07-01", "--treated", "galaxy=Andromeda"],
     "galaxy"),
    ("evaluate", ["evaluate", "--db", "{db}", "--name", "x", "--date", "2031-01-01", "--treated", "region=EMEA"],
     "no whole month on both sides"),
]


def run_cli(argv: list[str]) -> int:
    """main's exit code, argparse's usage errors (SystemExit) included; any other exception fails the test."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


def commands() -> set[str]:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(subparsers.choices)


def test_every_command_has_bad_input_cases():
    assert {command for command, _, _ in CASES} == commands()


@pytest.mark.parametrize("command, argv, message", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_exits_2_with_a_message_and_no_traceback(command, argv, message, tmp_path, capfd, request):
    binary = tmp_path / "export.csv"
    binary.write_bytes("account_id,signup_date,churn_date,mrr\n".encode("utf-16"))
    places = {"tmp": tmp_path, "missing": tmp_path / "missing.csv", "binary": binary}
    if any("{db}" in arg for arg in argv):
        places["db"] = request.getfixturevalue("small_demo_database")[0]
    code = run_cli([arg.format(**places) for arg in argv])
    out, err = capfd.readouterr()
    assert code == 2, out + err
    assert message in err
    assert "Traceback" not in out + err
    assert "error" in err


def test_demo_with_no_accounts_exits_2_as_a_program(tmp_path):
    """The command as a person runs it, in its own process: no traceback on the terminal."""
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "demo", "--accounts", "0", "--out",
                           str(tmp_path / "demo")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "error: the number of accounts must be a whole number >= 1, got 0\n"
    assert done.stdout == ""
    assert not (tmp_path / "demo").exists()
