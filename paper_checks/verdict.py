"""Verdicts: what each claim check returns, serialisable to JSON.

A verdict is computed, never asserted. Each criterion carries the measured value, the threshold
it is judged against and the reason for that threshold, and is in one of three states: it
*holds* (``measured <op> threshold``), *fails*, or is *undecided* (the check says why it could not
judge it: a run that did not converge, an interval that straddles its margin). A claim's verdict
follows from its criteria: ``fails`` if any criterion fails, else ``undecided`` if any is
undecided, else ``holds`` (and never ``holds`` without a criterion). A check that raised has the
verdict ``error``, with its message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pcalm.runtime.threads import check_thread_count

if TYPE_CHECKING:
    from pcalm.experiments.grid_ray import RayOptions

Tier = Literal["quick", "full"]
Method = Literal["pc-alm", "pc"]
State = Literal["holds", "fails", "undecided"]
VerdictState = Literal["holds", "fails", "undecided", "error"]


@dataclass
class Criterion:
    """One judged quantity: ``passed`` is ``measured <op> threshold``, unless ``undecided`` gives a
    reason why it could not be judged (then it neither passes nor fails)."""

    name: str
    measured: float
    op: Literal["<=", ">=", "<", ">"]
    threshold: float
    reason: str
    undecided: str = ""

    @property
    def passed(self) -> bool:
        if self.undecided:
            return False
        compare = {"<=": float.__le__, ">=": float.__ge__, "<": float.__lt__, ">": float.__gt__}[self.op]
        return bool(compare(float(self.measured), float(self.threshold)))

    @property
    def state(self) -> State:
        """``holds``, ``fails`` or ``undecided`` (a reason was given)."""
        if self.undecided:
            return "undecided"
        return "holds" if self.passed else "fails"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "state": self.state}


@dataclass
class Verdict:
    """A claim's verdict from its criteria (module docstring); ``error`` holds the message of a
    check that raised."""

    claim: str
    title: str
    criteria: list[Criterion]
    evidence: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    @property
    def verdict(self) -> VerdictState:
        if self.error:
            return "error"
        states = {c.state for c in self.criteria}
        if not states or "fails" in states:
            return "fails"  # no computation, no verdict
        return "undecided" if "undecided" in states else "holds"

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "title": self.title,
            "verdict": self.verdict,
            "criteria": [c.to_dict() for c in self.criteria],
            "evidence": self.evidence,
            "figures": self.figures,
            "seconds": self.seconds,
            "error": self.error,
        }


@dataclass(frozen=True)
class CheckContext:
    """What every check receives: the tier, the method under test (PC-ALM, or PC as a
    negative control), the output folder for figures, the seed, how grids run (``ray``:
    None in this process, else each cell a Ray task, :class:`pcalm.experiments.grid_ray.RayOptions`), and
    the torch threads (``threads``: None for :mod:`pcalm.runtime.threads`' rule, per grid cell and per
    check; a count for every run), C4's seed cap for undecided cells (``max_seeds``: None for
    its default) and a folder of shipped grid rows to judge instead of training (``judge``)."""

    tier: Tier = "quick"
    method: Method = "pc-alm"
    out: Path = Path("results/check")
    seed: int = 0
    ray: "RayOptions | None" = None
    threads: int | None = None
    max_seeds: int | None = None
    judge: Path | None = None

    def __post_init__(self) -> None:
        if self.tier not in ("quick", "full"):
            raise ValueError(f"tier: expected 'quick' or 'full', got {self.tier!r}")
        if self.method not in ("pc-alm", "pc"):
            raise ValueError(f"method: expected 'pc-alm' or 'pc', got {self.method!r}")
        check_thread_count(self.threads)
        if self.max_seeds is not None and (isinstance(self.max_seeds, bool) or not isinstance(self.max_seeds, int) or self.max_seeds < 2):
            raise ValueError(f"max_seeds: must be an integer >= 2 (an interval needs two seeds), got {self.max_seeds!r}")

    def figure(self, name: str) -> Path:
        """Path of a figure file in the output folder."""
        path = self.out / "figures" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
