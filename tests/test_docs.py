"""The README and the manual in docs/ keep their promises: every link leads to a file and heading that exist, the
README stays a front door, and every `retention` command, option and `make` target they name is one the code has.

Links are read as GitHub renders them: a relative link's file must exist, and its `#anchor` must be the anchor
GitHub makes of a heading in that file (lower-case, punctuation dropped, spaces to hyphens, `-1`, `-2` … for a
repeated heading). Text inside code (fenced blocks and `inline code`) is never a link, but it is where commands
are named."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS, ROOT / "dashboard" / "methods.md"]

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
RETENTION = re.compile(r"\bretention ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")
MAKE = re.compile(r"(?<![\w./-])make((?: [a-z][a-z-]*)+)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@cache
def _split(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The page's prose lines (code spans blanked) and its code: fenced lines and inline spans, one per item."""
    prose, code, fenced = [], [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            prose.append("")
            continue
        if fenced:
            code.append(line)
            prose.append("")
            continue
        code.extend(match.group(2) for match in INLINE_CODE.finditer(line))
        prose.append(INLINE_CODE.sub("", line))
    return tuple(prose), tuple(code)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading's text: markup dropped, lower-case, every character that is not a letter,
    digit, space, hyphen or underscore removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors on its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _raw_headings(path: Path) -> list[str]:
    """Headings read with their inline code kept, since `_split` blanks code spans in the prose it returns."""
    out, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            out.append(match.group(2))
    return out


@cache
def heading_anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in _raw_headings(path):
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return frozenset(found)


def relative_links(path: Path) -> list[str]:
    links = []
    for line in _split(path)[0]:
        for match in LINK.finditer(line):
            target = match.group(1)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto: …
                links.append(target)
    return links


def test_github_anchor_follows_githubs_rules():
    assert github_anchor("Shared mode: sign-in, roles, each CSM's own book, an audit log") == (
        "shared-mode-sign-in-roles-each-csms-own-book-an-audit-log")
    assert github_anchor("The `retention` command") == "the-retention-command"
    assert github_anchor("The data contract (what you bring)") == "the-data-contract-what-you-bring"
    assert github_anchor("Bring your own data: the importers") == "bring-your-own-data-the-importers"


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    assert page.exists()
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor} in {_rel(linked)} "
                          f"(it has {sorted(heading_anchors(linked))})")
    assert not broken, f"{_rel(page)} has broken links:\n" + "\n".join(broken)


def test_the_readme_links_every_page_of_the_manual():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in relative_links(README)}
    missing = [_rel(page) for page in [*DOCS, ROOT / "dashboard" / "methods.md"] if page.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"
    assert (ROOT / "docs" / "images" / "overview.png").resolve() in linked, "the README shows the Overview page"


def test_the_readme_is_a_front_door():
    """About 150-250 lines: what it is, the two commands, the data contract in brief, the tree, links; the manual
    lives in docs/."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert 150 <= len(lines) <= 250, f"README.md has {len(lines)} lines; move detail into docs/"


def _logical_lines(page: Path) -> list[str]:
    """The page's code as commands: an inline span is one; in a fenced block a line ending in a backslash, or
    followed by an indented line that names no command, goes on with the next (a synopsis wraps that way)."""
    out: list[str] = []
    previous_fenced = False
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced, previous_fenced = not fenced, False
            continue
        if not fenced:
            out.extend(match.group(2) for match in INLINE_CODE.finditer(line))
            previous_fenced = False
            continue
        goes_on = previous_fenced and (out[-1].rstrip().endswith("\\")
                                       or (line.startswith("    ") and not RETENTION.search(line)))
        if goes_on:
            out[-1] = out[-1].rstrip().removesuffix("\\") + " " + line.strip()
        else:
            out.append(line)
        previous_fenced = True
    return out


def _named_commands() -> dict[tuple[str, ...], set[str]]:
    """Each `retention <command>` (and `retention import <tool>`) named in code in the README and docs/, with the
    options written after it up to a shell comment or the next command."""
    named: dict[tuple[str, ...], set[str]] = {}
    for page in [README, *DOCS]:
        for text in _logical_lines(page):
            text = text.split(" #", 1)[0]
            matches = list(RETENTION.finditer(text))
            for k, match in enumerate(matches):
                command, second = match.group(1), match.group(2)
                # `import` and `report` name a second word (a tool, a kind of brief) whose --help lists the options
                key = (command, second) if command in ("import", "report") and second else (command,)
                stop = matches[k + 1].start() if k + 1 < len(matches) else len(text)
                named.setdefault(key, set()).update(OPTION.findall(text[match.end():stop]))
    return named


def _help_text(argv: list[str], capfd) -> str:
    from dashboard.reports.command import main as reports_main
    from pipelines.cli import main as cli_main

    # `retention report` and `digest` run the reports' program (tests/test_cli_errors.py runs it so); its parser is
    # asked here in this process, which saves starting one per command
    main = reports_main if argv[:1] in (["report"], ["digest"]) else cli_main
    try:
        code = main([*argv, "--help"])
    except SystemExit as exc:
        code = exc.code
    out = capfd.readouterr()
    assert code in (0, None), f"retention {' '.join(argv)} --help exited {code}: {out.err}"
    return out.out + out.err


def test_every_retention_command_named_in_the_docs_has_a_parser_and_its_options(capfd):
    named = _named_commands()
    assert {("build",), ("demo",), ("km",), ("drivers",), ("whatif",), ("serve",)} <= set(named)
    unknown_options = []
    for key in sorted(named):
        help_text = _help_text(list(key), capfd)
        unknown_options += [f"retention {' '.join(key)} {option}" for option in sorted(named[key])
                            if option != "--help" and option not in help_text]
    assert not unknown_options, "options the docs name that the commands do not take:\n" + "\n".join(unknown_options)


def test_every_make_target_the_readme_names_exists():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile, re.MULTILINE))
    named = set()
    for page in [README, *DOCS]:
        for text in _split(page)[1]:
            for match in MAKE.finditer(text):
                named.update(match.group(1).split())
    assert {"run", "test", "test-fast", "serve", "setup"} <= named
    assert not named - targets, f"make targets the docs name but the Makefile lacks: {sorted(named - targets)}"
