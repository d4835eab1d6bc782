"""C6 holds for PC-ALM; it fails for a perturbed PC-ALM that spends twice PC's steps, and for PC
in PC-ALM's place (no dual update at all), counted on the reference loop and both ways of the
fast path."""

import pcalm
import paper_checks.c6_budget as c6
from paper_checks import CheckContext

DUAL_PATHS = ("reference loop", "fast path (default)", "fast path (eager)")


def _dual_criteria(verdict) -> dict[str, object]:
    return {path: next(c for c in verdict.criteria if "dual layer updates" in c.name and path in c.name) for path in DUAL_PATHS}


def test_c6_holds_with_counts(tmp_path):
    verdict = c6.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "holds", verdict.to_dict()
    counts, pc_counts = verdict.evidence["counts"], verdict.evidence["pc_counts"]
    assert counts["predict"] == pc_counts["predict"] > 0
    # Exactly (L-1)(T-1) dual layer updates on the reference loop (L = 8, T = 16); on the fast
    # path (L = 32, T = 64) one per round on the layers credit has reached: rounds 1..30 reach
    # 1..30 layers, rounds 31..63 all 31.
    assert counts["dual layer updates"] == 7 * 15
    reached = sum(range(1, 31)) + 31 * 33
    assert verdict.evidence["fast_path_dual_updates"] == {"default": reached, "eager": reached}
    assert all(c.passed for c in _dual_criteria(verdict).values())


def test_c6_fails_when_pcalm_takes_extra_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(c6, "method_under_test", lambda ctx, eta, steps=None: pcalm.PCALM(eta=eta, steps=steps, inner_steps=2))
    verdict = c6.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "fails"
    failed = [c.name for c in verdict.criteria if not c.passed]
    assert any("activity steps" in name for name in failed)


def test_c6_fails_for_pc_in_pcalms_place(tmp_path):
    # PC makes no dual update: zero of the (L-1)(T-1) the schedule asks for, on every path.
    verdict = c6.check(CheckContext(out=tmp_path, method="pc"))
    assert verdict.verdict == "fails"
    dual = _dual_criteria(verdict)
    assert not any(c.passed for c in dual.values())
    assert dual["reference loop"].measured == 7 * 15 and dual["fast path (default)"].measured == sum(range(1, 31)) + 31 * 33


def test_c6_fails_for_a_dual_step_after_the_last_round_too(tmp_path, monkeypatch):
    # "post" timing adds one dual update per layer after the last round: one too many per layer.
    monkeypatch.setattr(c6, "method_under_test", lambda ctx, eta, steps=None: pcalm.PCALM(eta=eta, steps=steps, timing="post"))
    verdict = c6.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "fails"
    dual = _dual_criteria(verdict)
    assert dual["reference loop"].measured == 7 and dual["fast path (eager)"].measured == 31
