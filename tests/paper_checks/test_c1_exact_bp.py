"""C1 holds for PC-ALM on all three routes and fails on all three with PC as the method."""

import paper_checks.c1_exact_bp as c1
from paper_checks import CheckContext


def test_c1_holds_for_pcalm(tmp_path):
    verdict = c1.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "holds", verdict.to_dict()["criteria"]
    assert verdict.evidence["failed_derivations"] == []


def test_c1_fails_for_pc_on_every_route(tmp_path):
    verdict = c1.check(CheckContext(method="pc", out=tmp_path))
    assert verdict.verdict == "fails"
    assert not any(c.passed for c in verdict.criteria)


def test_engine_steps_follow_the_radius_and_a_cap_is_undecided_never_failed():
    """T = ceil(log 1e-13 / log r): r = 0.5 needs 44 steps; r >= 1 or a T above the cap is not run,
    and the engine criterion is then undecided (unless a net that ran already fails)."""
    assert c1.engine_steps(0.5) == 44
    assert c1.engine_steps(1.0) is None and c1.engine_steps(1 - 1e-7) is None  # 3e8 steps > cap
    ran, capped = {"error": 1e-14, "steps": 44, "radius": 0.5}, {"error": None, "steps": None, "radius": 1 - 1e-7}
    assert c1.engine_criterion([ran]).state == "holds"
    assert c1.engine_criterion([ran, capped]).state == "undecided"
    assert c1.engine_criterion([{**ran, "error": 0.3}, capped]).state == "fails"
