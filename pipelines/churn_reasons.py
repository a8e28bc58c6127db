"""Churn reasons and the cause each counts under, read from a file the analyst can override.

The accounts file may carry a `churn_reason` (free text, as the billing tool writes it). The reasons file maps
each reason to a cause: `voluntary`, `involuntary` or any cause the analyst names; a reason it does not list counts
under its `other_reasons` cause, and a churned account with no reason is `unknown`, never guessed. The built-in
file is `churn_reasons.toml` beside this module; `retention build --churn-reasons FILE` replaces it, and the build
records the mapping it used.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RetentionError

BUILT_IN_PATH = Path(__file__).with_name("churn_reasons.toml")
BUILT_IN_NAME = "built-in"
# the cause of a churned account whose row gives no reason
UNKNOWN = "unknown"


class ChurnReasonsError(RetentionError, ValueError):
    """A churn reasons file cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class ChurnReasons:
    """Reason (folded: lower case, trimmed) -> cause, and the cause of any reason not listed."""

    causes: dict[str, str] = field(default_factory=dict)
    other_reasons: str = "voluntary"
    source: str = BUILT_IN_NAME

    def cause_of(self, reason: str | None) -> str:
        """The cause a churned account with this reason counts under."""
        if reason is None or not reason.strip():
            return UNKNOWN
        return self.causes.get(fold(reason), self.other_reasons)

    def as_dict(self) -> dict:
        """What the build records."""
        return {"source": self.source, "other_reasons": self.other_reasons, "reasons": dict(self.causes)}

    def rows(self) -> list[dict]:
        """The mapping as the build's table holds it: one row per listed reason, and one (no reason) for the rest."""
        return ([{"reason_key": reason, "cause": cause} for reason, cause in self.causes.items()]
                + [{"reason_key": None, "cause": self.other_reasons}])


def fold(reason: str) -> str:
    """A reason as it is matched: lower case, no spaces at either end (the staging SQL folds the same way)."""
    return reason.strip().lower()


def load(path: Path | str | None = None) -> ChurnReasons:
    """The mapping in `path` (a TOML file like churn_reasons.toml), or the built-in one for None."""
    file = BUILT_IN_PATH if path is None else Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ChurnReasonsError(f"churn reasons file {file} does not exist") from None
    except UnicodeDecodeError:
        raise ChurnReasonsError(f"churn reasons file {file} is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ChurnReasonsError(f"churn reasons file {file} is not valid TOML: {error}") from None
    where = str(file)
    extra = sorted(set(document) - {"other_reasons", "reasons"})
    if extra:
        raise ChurnReasonsError(f"{where}, line {_line_of(text, extra[0])}: unknown entry {extra[0]!r}; only "
                                "other_reasons and [reasons]")
    other = document.get("other_reasons", "voluntary")
    if not isinstance(other, str) or not other.strip():
        raise ChurnReasonsError(f"{where}, line {_line_of(text, 'other_reasons')}: other_reasons must name a cause, "
                                'e.g. other_reasons = "voluntary"')
    reasons = document.get("reasons", {})
    if not isinstance(reasons, dict):
        raise ChurnReasonsError(f"{where}: [reasons] must be a table of reason = \"cause\" lines")
    causes: dict[str, str] = {}
    for reason, cause in reasons.items():
        if not isinstance(cause, str) or not cause.strip():
            raise ChurnReasonsError(f"{where}, line {_line_of(text, reason)}: the reason {reason!r} maps to "
                                    f"{cause!r}; give it a cause, e.g. {reason} = \"involuntary\"")
        if not reason.strip():
            raise ChurnReasonsError(f"{where}, line {_line_of(text, reason)}: an empty reason cannot be matched")
        causes[fold(reason)] = cause.strip()
    return ChurnReasons(causes, other.strip(), BUILT_IN_NAME if path is None else file.name)


def _line_of(text: str, key: str) -> int | str:
    """The line where `key` is set (for a message), or '?' when it cannot be told."""
    pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=', re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else "?"
