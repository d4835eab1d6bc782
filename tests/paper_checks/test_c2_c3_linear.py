"""C2 and C3 hold on the quick tier and fail on cases where their claims are false."""

import numpy as np

import numerics
import paper_checks.c2_convergence as c2
import paper_checks.c3_pc_not_bp as c3
from paper_checks import CheckContext


def test_c2_holds(tmp_path):
    verdict = c2.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "holds", verdict.to_dict()["criteria"]
    assert verdict.evidence["max_real_part"] < 0
    # The net of the largest radius is run, judged and plotted beside the example nets.
    assert verdict.evidence["worst_net"] in verdict.evidence["engine_curves"]


def test_c2_fails_with_a_too_large_step(tmp_path, monkeypatch):
    """eta = 3 / lambda_max is beyond the stable range: radius above 1, the engine diverges."""
    monkeypatch.setattr(c2, "ETA_FACTOR", 3.0)
    verdict = c2.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "fails"
    failed = {c.name for c in verdict.criteria if not c.passed}
    assert "(measured, not proven) max spectral radius of the schedule under eta = 1/lambda_max" in failed
    assert any(name.startswith("(measured) counterexamples") for name in failed)  # the search finds them at 3 / lambda_max


def test_c2_runs_until_the_predicted_distance_within_its_bounds():
    # 0.5^10 = 9.8e-4 is the first power below 1e-3; 2^10 = 1024 the first above 1e3.
    assert c2.steps_until(0.5, 1e-3) == 10 and c2.steps_until(2.0, 1e3) == 10
    # A schedule that does not contract toward the target runs the fixed unstable budget ...
    assert c2.steps_until(1.0, 1e-3) == c2.steps_until(1.2, 1e-3) == c2.steps_until(0.9, 1e3) == c2.UNSTABLE_STEPS
    # ... and a nearly neutral one is bounded: 1 - 1e-9 would need 2.3e10 steps to reach 1e-10.
    assert c2.steps_until(1.0 - 1e-9, 1e-10) == c2.MAX_CURVE_STEPS


def test_c3_holds(tmp_path):
    verdict = c3.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "holds", verdict.to_dict()["criteria"]


def test_c3_fails_against_a_wrong_free_energy(tmp_path, monkeypatch):
    """With S = I in F* (the plain squared error), PC's equilibrium gradient is not its gradient."""

    def squared_error(weights, x, y):
        product = weights[0]
        for w in weights[1:]:
            product = w @ product
        residual = y - x @ product.T
        return np.sum(residual * residual) / (2 * x.shape[0])

    monkeypatch.setattr(numerics, "pc_free_energy", squared_error)
    verdict = c3.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "fails"
    assert not verdict.criteria[0].passed


def test_c3_fails_when_pc_is_replaced_by_an_exact_method(tmp_path, monkeypatch):
    """If 'PC' were exact (PC-ALM's equilibrium), the cosine would not fall with depth."""
    real = numerics.linear_equilibrium
    monkeypatch.setattr(numerics, "linear_equilibrium", lambda w, x, y, method="pc-alm": real(w, x, y, method="pc-alm"))
    verdict = c3.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "fails"
