"""C6 holds for PC-ALM and fails for a perturbed PC-ALM that spends twice PC's steps."""

import pcalm
import paper_checks.c6_budget as c6
from paper_checks import CheckContext


def test_c6_holds_with_counts(tmp_path):
    verdict = c6.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "holds", verdict.to_dict()
    counts, pc_counts = verdict.evidence["counts"], verdict.evidence["pc_counts"]
    assert counts["predict"] == pc_counts["predict"] > 0
    assert counts["dual layer updates"] > 0


def test_c6_fails_when_pcalm_takes_extra_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(c6, "method_under_test", lambda ctx, eta, steps=None: pcalm.PCALM(eta=eta, steps=steps, inner_steps=2))
    verdict = c6.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "fails"
    failed = [c.name for c in verdict.criteria if not c.passed]
    assert any("activity steps" in name for name in failed)
