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
