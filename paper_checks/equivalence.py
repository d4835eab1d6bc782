"""One rule for claims that two methods *match* (C4, and any claim that reuses it): a one-sided
non-inferiority test on paired per-seed gaps.

For a cell, the gaps g_s = acc_BP(s) - acc_tested(s) over its seeds s = 1..n are paired (same
seed, same initial net and batches). Their mean m and standard error se = sd(g, ddof=1) / sqrt(n)
give the one-sided bounds ``low = m - t se`` and ``high = m + t se`` with t the LEVEL quantile of
Student's t with n - 1 degrees of freedom (each bound alone holds with probability LEVEL; both
together are the two-sided 1 - 2(1 - LEVEL) interval, as in the two one-sided tests of
equivalence testing).

- :func:`non_inferiority` ("the tested method is at most ``margin`` behind"): *matches* when
  ``high <= margin``, *behind* when ``low > margin``, else *undecided*. A tested method far
  above BP matches too.
- :func:`superiority` ("BP is more than ``margin`` ahead"): *holds* when ``low > margin``,
  *fails* when ``high <= margin``, else *undecided*.

LEVEL = 0.95 one-sided: the usual level of a non-inferiority test. A claim that *every* cell
matches is an intersection of the cells' hypotheses, so testing each cell at 5% keeps the
claim's false "holds" rate at or below 5% with no multiplicity correction (the
intersection-union principle, Berger 1982). A single cell's *behind* is a false alarm at most 5%
of the time when its true gap sits exactly at the margin, and far less when it is well inside.
With one seed there is no spread to judge by: the cell is undecided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from scipy import stats

LEVEL = 0.95
CellVerdict = Literal["matches", "behind", "undecided"]
PartVerdict = Literal["holds", "fails", "undecided"]


@dataclass(frozen=True)
class Interval:
    """Mean of the paired gaps, its one-sided lower and upper bounds at ``level`` (NaN with one
    seed; +inf when a run diverged or is missing), the number of seeds and the level."""

    mean: float
    low: float
    high: float
    seeds: int
    level: float

    def to_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "seeds": self.seeds, "level": self.level}


def paired_interval(gaps: Sequence[float], level: float = LEVEL) -> Interval:
    """The bounds m -/+ t_{level, n-1} sd(gaps, ddof=1) / sqrt(n) of the paired gaps (module
    docstring). A non-finite gap (a diverged run) makes the whole interval +inf: the tested
    method lost that seed entirely.

    Arguments:
        gaps: per-seed gaps BP - tested (fractions of 1, not points).
        level: the one-sided level of each bound, in (0.5, 1).

    Returns:
        The :class:`Interval`; with fewer than two gaps its bounds are NaN (no spread)."""
    if not 0.5 < level < 1:
        raise ValueError(f"level: must be in (0.5, 1), got {level!r}")
    n = len(gaps)
    if n == 0:
        raise ValueError("gaps: need at least one seed")
    if not all(math.isfinite(g) for g in gaps):
        return Interval(math.inf, math.inf, math.inf, n, level)
    mean = float(np.mean(gaps))
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, level)
    half = float(stats.t.ppf(level, n - 1) * np.std(gaps, ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, level)


def non_inferiority(interval: Interval, margin: float) -> CellVerdict:
    """*matches* when the upper bound is within ``margin``, *behind* when the lower bound is
    beyond it, else (or with one seed) *undecided*."""
    if interval.low > margin:  # inf > margin for a diverged run; NaN compares False
        return "behind"
    if interval.high <= margin:
        return "matches"
    return "undecided"


def superiority(interval: Interval, margin: float) -> PartVerdict:
    """*holds* when the lower bound of the gap exceeds ``margin``, *fails* when the upper bound
    is within it, else (or with one seed) *undecided*."""
    if interval.low > margin:
        return "holds"
    if interval.high <= margin:
        return "fails"
    return "undecided"


def claim_state(cells: Sequence[CellVerdict], part: PartVerdict) -> PartVerdict:
    """A "matches everywhere, and the other method is behind" claim from its cells' verdicts and
    its second part's: *fails* if any cell is behind or the part fails, *holds* if every cell
    matches and the part holds, else *undecided*."""
    if "behind" in cells or part == "fails":
        return "fails"
    if cells and all(c == "matches" for c in cells) and part == "holds":
        return "holds"
    return "undecided"
