"""The one error type a person can cause, the input error every reader of a file raises, and the one reader of a
settings file's text.

`RetentionError` is an error the person who ran a command or used a page can fix: a file, an option, a
setting, a filter, a missing install. Its message says what is wrong in their words and what to do; the CLI
prints it and exits 2, a page shows it. Each part of the project raises its own subclass (`FilterError`,
`DriversInputError`, ...), which keeps `ValueError` as a base where callers catch that.

A failed build (`build_result.BuildError`, a failed audit) is not one: the inputs were accepted row by row, so an
audit that finds duplicate keys or an unbalanced load report points at the build's own SQL, and the CLI keeps its
separate exit 1 for it.
"""

from __future__ import annotations

from pathlib import Path


class RetentionError(Exception):
    """Something the user gave cannot be used; the message says what and what to do instead."""


class InputError(RetentionError, ValueError):
    """An input file cannot be used; the message names the file (and row and column when known)."""

    def __init__(self, path: Path | str, message: str, row: int | None = None, column: str | None = None):
        self.path = str(path)
        self.row = row
        self.column = column
        where = self.path
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


def read_settings_text(path: Path, error: type[RetentionError], missing: str) -> str:
    """A settings file's text (a roles file, a digest file); `error` naming the file for one that is not there (with
    `missing`, what to do), is not UTF-8 text, or cannot be read (a folder, a file it may not read, one an editor is
    replacing)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except UnicodeDecodeError as decode:
        raise error(f"{path}: not UTF-8 text ({decode.reason} at byte {decode.start})") from None
    except OSError as unreadable:
        raise error(f"{path}: cannot be read ({unreadable.strerror or unreadable})") from None
