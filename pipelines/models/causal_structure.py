"""The causal structure: which service factor comes before which, read from a file the analyst can override.

Every factor's own model adjusts for the factors that cause it and never for the ones it moves (its
consequences, the paths its effect runs through); a what-if on a factor lets everything it moves, directly or
through others, move with it. Both read the structure from here, and the build records the one it used so the
app's what-ifs and every page say which it was. The built-in structure is `causal_structure.toml` beside this
module; `retention build --causal-structure FILE` replaces it.

Where two orderings are both plausible (an export's resolution time may include reopen cycles), the file names
the pair, and `alternatives()` gives the structure with that link reversed, so the drivers page can show a
factor's effect under each.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import RetentionError
from .factors import FACTORS, SERVICE_PILLARS, label

BUILT_IN_PATH = Path(__file__).with_name("causal_structure.toml")
BUILT_IN_NAME = "built-in"
# Case mix and volume: confounders of every service factor, adjusted for in every factor's own model.
CASE_MIX = ("high_priority_share", "live_channel_share")
VOLUME = "tickets_90d"
# The stability table's steps, each adding to the one before; the last is the factor's own model.
STEPS = ("unadjusted", "+ plan and segments", "+ case mix and volume", "+ upstream service factors")
SERVICE_FACTORS = tuple(f.name for f in FACTORS if f.pillar in SERVICE_PILLARS)


class CausalStructureError(RetentionError, ValueError):
    """A causal structure file cannot be used; the message names the file and what to fix."""


@dataclass(frozen=True)
class BothPlausible:
    """A pair of factors the file links one way whose reverse order is also plausible, and why."""

    first: str  # comes first in the file
    then: str
    why: str


@dataclass(frozen=True)
class CausalStructure:
    """Direct causal links between service factors, (cause, effect), and the orderings that are uncertain."""

    links: tuple[tuple[str, str], ...]
    both_plausible: tuple[BothPlausible, ...] = ()
    source: str = BUILT_IN_NAME  # "built-in", or the file name it was read from

    @property
    def factors(self) -> tuple[str, ...]:
        return SERVICE_FACTORS

    def causes(self, factor: str) -> tuple[str, ...]:
        """The factors that move `factor` directly: its confounders among the service factors."""
        return tuple(c for c, e in self.links if e == factor)

    def consequences(self, factor: str) -> tuple[str, ...]:
        """The factors `factor` moves directly."""
        return tuple(e for c, e in self.links if c == factor)

    def descendants(self, factor: str) -> set[str]:
        """Every factor `factor` moves, directly or through others."""
        found: set[str] = set()
        frontier = [factor]
        while frontier:
            moved = set(self.consequences(frontier.pop())) - found - {factor}
            found |= moved
            frontier.extend(moved)
        return found

    def adjustment_set(self, factor: str, covariates: list[str]) -> dict[str, list[str]]:
        """The terms each stability step adds for `factor` (its own model is all of them)."""
        self.check_known([factor])
        case_mix = [c for c in CASE_MIX if c != factor] + ([VOLUME] if factor != VOLUME else [])
        return {"unadjusted": [], "+ plan and segments": list(covariates), "+ case mix and volume": case_mix,
                "+ upstream service factors": list(self.causes(factor))}

    def own_model_terms(self, factor: str) -> list[str]:
        """The factor and its adjustment set's service and case-mix terms: the terms of its own model."""
        steps = self.adjustment_set(factor, [])
        return [factor] + [t for t in steps["+ case mix and volume"] + steps["+ upstream service factors"]
                           if t != factor]

    def whatif_terms(self, changed: list[str]) -> list[str]:
        """The outcome model a what-if of the changed factors standardises with: the changed factors and every
        predictor of churn the change cannot move (every service factor that is not a descendant of a changed
        one, case mix and volume; plan and segments come with every model). An account's absolute risk needs
        all of them, and none can absorb part of the change's effect. A descendant that is not itself changed
        stays out: its path is part of the change's effect, not held at today's value."""
        self.check_known(changed)
        moved = set().union(*(self.descendants(f) for f in changed)) - set(changed)
        terms = list(changed) + [f for f in self.factors if f not in changed and f not in moved]
        return terms + [t for t in (*CASE_MIX, VOLUME) if t not in terms]

    def describe_adjustment(self, factor: str, covariates: list[str]) -> str:
        """The factor's adjustment set in words, as the pages and the report show it."""
        steps = self.adjustment_set(factor, covariates)
        names = steps["+ plan and segments"] + [label(f) for f in
                                                steps["+ case mix and volume"] + steps["+ upstream service factors"]]
        return ", ".join(names) if names else "nothing"

    def adjustment_in_short(self, factor: str, covariates: list[str]) -> str:
        """What a factor's effect rests on, in a phrase for a sentence: "plan, case mix and ticket volume"."""
        names = list(covariates) + ["case mix", "ticket volume"] + [label(u) for u in self.causes(factor)]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    def not_adjusted_for(self, factor: str) -> str:
        """What the factor moves, in words: its own model holds none of it fixed. The direct consequences by name,
        then "and what they move" when they move more (the methods notes list everything)."""
        direct = [label(f) for f in self.factors if f in self.consequences(factor)]
        further = self.descendants(factor) - set(self.consequences(factor))
        more = (", and what they move" if len(direct) > 1 else ", and what it moves") if further else ""
        return (", ".join(direct) + more) or "nothing"

    def moved_in_words(self, factor: str) -> str:
        """Everything the factor moves, directly or through others, in words."""
        moved = self.descendants(factor)
        return ", ".join(label(f) for f in self.factors if f in moved) or "nothing"

    def table(self) -> list[dict[str, str]]:
        """One row per factor in words: what its own model adjusts for and what it moves (never adjusted for)."""
        return [{"factor": label(f), "adjusted for, besides case mix, ticket volume and plan":
                 ", ".join(label(c) for c in self.causes(f)) or "nothing else",
                 "what it moves, never adjusted for": self.moved_in_words(f)} for f in self.factors]

    def check_known(self, factors: list[str]) -> None:
        unknown = [f for f in factors if f not in self.factors]
        if unknown:
            raise CausalStructureError(f"no causal role written down for {unknown}; choose from {list(self.factors)}")

    def reversed(self, pair: BothPlausible) -> "CausalStructure":
        """This structure with the pair's link the other way round."""
        links = tuple((pair.then, pair.first) if (c, e) == (pair.first, pair.then) else (c, e) for c, e in self.links)
        return CausalStructure(links, (), f"{self.source}, with {label(pair.then)} before {label(pair.first)}")

    def alternatives(self) -> list[tuple[BothPlausible, "CausalStructure"]]:
        return [(pair, self.reversed(pair)) for pair in self.both_plausible]

    @property
    def in_words(self) -> str:
        """Which structure this is, for a caption: "the built-in causal structure"."""
        if self.source == BUILT_IN_NAME:
            return "the built-in causal structure"
        return f"the causal structure in {self.source}"

    def as_dict(self) -> dict:
        """What the build records (model_info), and from_dict reads back."""
        return {"source": self.source, "causes": {f: list(self.consequences(f)) for f in self.factors},
                "both_plausible": [{"factors": [p.first, p.then], "why": p.why} for p in self.both_plausible]}

    @classmethod
    def from_dict(cls, recorded: dict, where: str = "the build's record") -> "CausalStructure":
        return _parse(recorded, where, recorded.get("source", BUILT_IN_NAME))


def load(path: Path | str | None = None) -> CausalStructure:
    """The structure in `path` (a TOML file like causal_structure.toml), or the built-in one for None."""
    file = BUILT_IN_PATH if path is None else Path(path)
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CausalStructureError(f"causal structure file {file} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CausalStructureError(f"causal structure file {file} is not valid TOML: {error}") from None
    return _parse(document, str(file), BUILT_IN_NAME if path is None else file.name)


def recorded(info: dict | None) -> CausalStructure:
    """The structure a build used, from the factor effects' model_info (every build records it, fitted or not)."""
    if info is None:  # a build of this schema version always has the row; a damaged database may not
        raise CausalStructureError("the database records no factor effects model, so no causal structure; rebuild it")
    return CausalStructure.from_dict(info["causal_structure"])


def _parse(document: dict, where: str, source: str) -> CausalStructure:
    causes = document.get("causes")
    if not isinstance(causes, dict):
        raise CausalStructureError(f"{where}: needs a [causes] table listing, for each service factor, the factors "
                                   f"it moves directly (e.g. first_response_hours = [\"sla_breach_rate\"])")
    extra = sorted(set(document) - {"causes", "both_plausible", "source"})
    if extra:
        raise CausalStructureError(f"{where}: unknown section {extra[0]!r}; only [causes] and [[both_plausible]]")
    links: list[tuple[str, str]] = []
    for factor, moved in causes.items():
        _check_factor(factor, where, f"[causes] {factor}")
        if not isinstance(moved, list) or not all(isinstance(m, str) for m in moved):
            raise CausalStructureError(f"{where}: [causes] {factor} must be a list of factor names, e.g. "
                                       f"{factor} = [\"csat\"], or [] when it moves none of the others")
        for effect in moved:
            _check_factor(effect, where, f"[causes] {factor}")
            if effect == factor:
                raise CausalStructureError(f"{where}: [causes] {factor} lists itself")
            links.append((factor, effect))
    missing = [f for f in SERVICE_FACTORS if f not in causes]
    if missing:
        raise CausalStructureError(f"{where}: [causes] does not list {', '.join(missing)}; add each, with [] when "
                                   "it moves none of the others")
    pairs = []
    for position, entry in enumerate(document.get("both_plausible", []), start=1):
        named = f"{where}: [[both_plausible]] number {position}"
        factors = entry.get("factors") if isinstance(entry, dict) else None
        if not (isinstance(factors, list) and len(factors) == 2 and all(isinstance(f, str) for f in factors)):
            raise CausalStructureError(f"{named} needs factors = [\"one\", \"other\"]")
        for factor in factors:
            _check_factor(factor, where, named)
        first, then = factors if tuple(factors) in links else factors[::-1]
        if (first, then) not in links:
            raise CausalStructureError(f"{named}: {factors[0]} and {factors[1]} are not linked in [causes]; a pair "
                                       "whose order is uncertain must be linked one way")
        pairs.append(BothPlausible(first, then, str(entry.get("why", ""))))
    structure = CausalStructure(tuple(links), tuple(pairs), source)
    checks = [(structure, "")] + [(alternative, f" once {pair.first} and {pair.then} are reversed")
                                  for pair, alternative in structure.alternatives()]
    for check, when in checks:
        cycle = _cycle(check)
        if cycle:
            raise CausalStructureError(f"{where}: the links go round in a circle{when}: {' -> '.join(cycle)}; a "
                                       "factor cannot come before itself")
    return structure


def _check_factor(name: str, where: str, field: str) -> None:
    if name not in SERVICE_FACTORS:
        raise CausalStructureError(f"{where}: {field}: unknown service factor {name!r}; the service factors are "
                                   f"{', '.join(SERVICE_FACTORS)}")


def _cycle(structure: CausalStructure) -> list[str]:
    """A circle of links (its factors, the first repeated at the end), or [] when there is none."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(factor: str) -> list[str]:
        state[factor] = 1
        path.append(factor)
        for moved in structure.consequences(factor):
            if state.get(moved) == 1:
                return path[path.index(moved):] + [moved]
            if moved not in state:
                found = visit(moved)
                if found:
                    return found
        path.pop()
        state[factor] = 2
        return []

    for factor in structure.factors:
        if factor not in state:
            found = visit(factor)
            if found:
                return found
    return []


BUILT_IN = load()
