"""The causal structure in words: which one a page's effects rest on, and what an uncertain order changes."""

from __future__ import annotations

import pandas as pd

from pipelines.models.causal_structure import CausalStructure
from pipelines.models.factors import label


def structure_note(structure: CausalStructure) -> str:
    """One sentence naming the structure the effects rest on, and how an analyst changes it."""
    return (f"Which factor comes before which follows {structure.in_words} (what each factor's model adjusts for "
            "and what a what-if lets move with it); an analyst can supply their own with "
            "`retention build --causal-structure FILE`.")


def _ratio(row) -> str:
    return f"{row.hazard_ratio:.2f} ({row.ci_lower:.2f}–{row.ci_upper:.2f})"


def _side(row) -> int:
    """-1 when the interval is below 1, 1 above, 0 when it holds 1."""
    return -1 if row.ci_upper < 1 else (1 if row.ci_lower > 1 else 0)


def ordering_paragraphs(orderings: pd.DataFrame) -> list[str]:
    """Per uncertain pair, a paragraph: why the order is uncertain, then each factor's hazard ratio under the
    structure's order and the reverse one, and whether the order changes the answer."""
    paragraphs = []
    for (first, then), pair in orderings.groupby(["pair_first", "pair_then"], sort=False):
        why = str(pair.why.iloc[0]).strip()
        lines = [f"**{label(first).capitalize()} and {label(then)}**: which comes first is uncertain"
                 + (f" ({why})." if why else ".")]
        for term, rows in pair.groupby("term", sort=False):
            used = rows[rows.is_structure_used].iloc[0]
            other = rows[~rows.is_structure_used]
            if other.empty:
                continue
            other = other.iloc[0]
            verdict = ("either order gives the same answer" if _side(used) == _side(other)
                       else "the order changes the answer, so read this factor's effect with care")
            lines.append(f"- {used.label.capitalize()} ({used.unit}): hazard ratio {_ratio(used)} with "
                         f"{used.ordering} (the structure used), {_ratio(other)} with {other.ordering}; {verdict}.")
        paragraphs.append("\n".join(lines))
    return paragraphs


def structure_markdown(structure: CausalStructure) -> str:
    """The structure as a Markdown table, one row per factor (methods.md holds the built-in one's)."""
    rows = structure.table()
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(row.values()) + " |" for row in rows])
