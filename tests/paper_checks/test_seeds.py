"""Verdicts that do not depend on the seed: the cheap claims (C1, C3, C6) hold under seeds 1 and 2
as under the default 0 (a verdict tuned to one seed fails here); C2, C5, C7 and C8 under seeds
1 and 2 in the `full` marker tier (tens of seconds to minutes each)."""

import pytest

from paper_checks import CheckContext
from paper_checks.registry import get_check


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("claim", ["C1", "C3", "C6"])
def test_cheap_claims_hold_under_other_seeds(claim, seed, tmp_path):
    verdict = get_check(claim)(CheckContext(seed=seed, out=tmp_path))
    assert verdict.verdict == "holds", verdict.to_dict()["criteria"]


@pytest.mark.full
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("claim", ["C2", "C5", "C7", "C8"])
def test_long_claims_hold_or_are_undecided_under_other_seeds(claim, seed, tmp_path):
    """Holds, or undecided for a stated reason (C8: a net whose run never comes near its fixed point)."""
    verdict = get_check(claim)(CheckContext(seed=seed, out=tmp_path))
    assert verdict.verdict in ("holds", "undecided"), verdict.to_dict()["criteria"]
    assert all(c.undecided for c in verdict.criteria if c.state == "undecided")
