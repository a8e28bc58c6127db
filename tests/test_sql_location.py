"""SQL lives in `.sql` files: a Python module outside the SQL runner (`sqlrun.py`) and the input loader (`load.py`,
whose source views select the columns the contract maps from each file's own headers) holds no SQL text."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXEMPT = {"pipelines/sqlrun.py", "pipelines/load.py"}
SQL = re.compile(
    r"(?is)^\s*\(?\s*(select\s|with\s+\w+\s+as\s*\(|create\s|insert\s+into\s|delete\s+from\s|drop\s+(table|view)\s"
    r"|update\s+\w+\s+set\s|attach\s|detach\s|copy\s*\(|checkpoint\b|set\s+\w+\s*=|use\s+\w+\s*$|describe\s)"
    r"|\bselect\b[^.;]*\bfrom\b\s+\w+[^.;]*$")


def docstring_lines(source: str) -> set[int]:
    """The first line of each docstring (module, class, function): prose, never SQL."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                lines.add(first.lineno)
    return lines


def sql_strings(path: Path) -> list[tuple[int, str]]:
    """String literals of a module that read as SQL, with their line (docstrings aside, triple-quoted ones too)."""
    source = path.read_text(encoding="utf-8")
    docstrings = docstring_lines(source)
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.STRING or token.start[0] in docstrings:
            continue
        body = re.sub(r"^[rbfuRBFU]*(\"\"\"|'''|\"|')", "", token.string)
        if SQL.search(body):
            found.append((token.start[0], body[:60].strip()))
    return found


def modules() -> list[Path]:
    paths = [*ROOT.glob("pipelines/**/*.py"), *ROOT.glob("dashboard/**/*.py"), *ROOT.glob("benchmarks/*.py"),
             ROOT / "streamlit_app.py"]
    return sorted(p for p in paths if str(p.relative_to(ROOT)) not in EXEMPT)


def test_sql_text_lives_in_sql_files():
    counts = {str(p.relative_to(ROOT)): sql_strings(p) for p in modules()}
    offenders = {name: found for name, found in counts.items() if found}
    assert not offenders, "SQL text in Python (move it to a .sql file under pipelines/sql/): " + "; ".join(
        f"{name}: {found}" for name, found in offenders.items())


def test_the_check_finds_sql_and_leaves_prose_alone(tmp_path):
    module = tmp_path / "example.py"
    module.write_text('A = "select account_id from account_months"\nB = "create table t (x integer)"\n'
                      'C = "With filters, these come from the model."\nD = "drop them as not found"\n')
    assert [line for line, _ in sql_strings(module)] == [1, 2]
