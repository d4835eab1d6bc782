"""Verdicts: what each claim check returns, serialisable to JSON.

A verdict is computed, never asserted: ``holds`` is the conjunction of its criteria, and each
criterion carries the measured value, the threshold it is judged against, and the reason for
that threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pcalm.threads import check_thread_count

if TYPE_CHECKING:
    from pcalm.grid_ray import RayOptions

Tier = Literal["quick", "full"]
Method = Literal["pc-alm", "pc"]


@dataclass
class Criterion:
    """One judged quantity: ``passed`` is ``measured <op> threshold``."""

    name: str
    measured: float
    op: Literal["<=", ">=", "<", ">"]
    threshold: float
    reason: str

    @property
    def passed(self) -> bool:
        compare = {"<=": float.__le__, ">=": float.__ge__, "<": float.__lt__, ">": float.__gt__}[self.op]
        return bool(compare(float(self.measured), float(self.threshold)))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


@dataclass
class Verdict:
    """A claim's verdict: holds iff every criterion passed (and there is at least one)."""

    claim: str
    title: str
    criteria: list[Criterion]
    evidence: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def holds(self) -> bool:
        return bool(self.criteria) and all(c.passed for c in self.criteria)

    @property
    def verdict(self) -> str:
        return "holds" if self.holds else "fails"

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "title": self.title,
            "verdict": self.verdict,
            "criteria": [c.to_dict() for c in self.criteria],
            "evidence": self.evidence,
            "figures": self.figures,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class CheckContext:
    """What every check receives: the tier, the method under test (PC-ALM, or PC as a
    negative control), the output folder for figures, the seed, how grids run (``ray``:
    None in this process, else each cell a Ray task, :class:`pcalm.grid_ray.RayOptions`), and
    the torch threads (``threads``: None for :mod:`pcalm.threads`' rule, per grid cell and per
    check; a count for every run)."""

    tier: Tier = "quick"
    method: Method = "pc-alm"
    out: Path = Path("results/check")
    seed: int = 0
    ray: "RayOptions | None" = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.tier not in ("quick", "full"):
            raise ValueError(f"tier: expected 'quick' or 'full', got {self.tier!r}")
        if self.method not in ("pc-alm", "pc"):
            raise ValueError(f"method: expected 'pc-alm' or 'pc', got {self.method!r}")
        check_thread_count(self.threads)

    def figure(self, name: str) -> Path:
        """Path of a figure file in the output folder."""
        path = self.out / "figures" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
