"""The structure's rules, checked: imports point one way down the data flow (import-linter's contracts in
pyproject.toml), and the pipelines never reach up into the dashboard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    """`lint-imports` checks every contract in pyproject.toml; an import inside a function counts too."""
    lint = Path(sys.executable).with_name("lint-imports")
    completed = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    assert "broken" in completed.stdout and " 0 broken" in completed.stdout
