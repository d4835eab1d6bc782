"""Result objects every derivation returns (plain dataclasses that serialise to JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy as sp

HOLDS = "holds"
FAILS = "fails"


@dataclass
class Step:
    """One displayed step of a derivation: a sentence and the LaTeX of what was computed."""

    text: str
    latex: str = ""


@dataclass
class DerivationResult:
    """Verdict of one derivation.

    ``claim`` is phrased so that ``"holds"`` is the expected outcome for the canonical
    variant; ``details`` holds short string evidence (expressions, witnesses), ``steps`` the
    displayed derivation for the Markdown report.
    """

    name: str
    claim: str
    verdict: str
    details: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        """True when the verdict is ``"holds"``."""
        return self.verdict == HOLDS

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``{"name", "claim", "verdict", "details"}`` of ``python -m theory --json``."""
        return {"name": self.name, "claim": self.claim, "verdict": self.verdict,
                "details": dict(self.details)}


def verdict(ok: bool) -> str:
    """Map a computed boolean to ``"holds"`` / ``"fails"``."""
    return HOLDS if ok else FAILS


#: Longest LaTeX (characters) shown for one expression in the report.
LATEX_LIMIT = 4000
#: Longest string kept for one expression in ``details``.
DETAIL_LIMIT = 600


def _latex(expr: Any) -> str:
    if isinstance(expr, str):
        return expr
    text = sp.latex(expr)
    return text if len(text) <= LATEX_LIMIT else rf"\text{{[{len(text)} characters of LaTeX omitted]}}"


def step(text: str, *exprs: Any, sep: str = r" \qquad ") -> Step:
    """A :class:`Step` whose LaTeX is the ``sympy.latex`` of ``exprs`` (strings pass through)."""
    return Step(text, sep.join(t for t in (_latex(e) for e in exprs) if t))


def eq(lhs: str, rhs: Any) -> str:
    """LaTeX ``lhs = rhs``: ``lhs`` is LaTeX already, ``rhs`` is rendered by ``sympy.latex``."""
    return f"{lhs} = {_latex(rhs)}"


def short(expr: Any) -> str:
    """``str(expr)``, cut to :data:`DETAIL_LIMIT` characters for ``details``."""
    text = str(expr)
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + f"... [{len(text)} characters]"
