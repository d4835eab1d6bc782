"""C5 on the quick tier's net: holds for PC-ALM, fails with PC as the method under test.

(The quick tier's own shape, not a smaller one: at depth 32, width 8, batch 16 the lowest
layer's gradient reaches 0.29 of BP's at T = 2L, under the 1/3 floor, so C5's margin there is
thin; that is reported in the closing note, not hidden by a smaller test shape.)"""

import numpy as np
import pytest

import paper_checks.c5_credit as c5
from paper_checks import CheckContext


def test_arrival_times_and_exponent_of_a_known_front():
    """A synthetic front reaching distance k at step 3k (wave) or k^2 (diffusion)."""
    import numpy as np

    depth, steps = 17, 400
    for power, expected in ((1, 1.0), (2, 2.0)):
        trace = np.zeros((steps, depth - 1))
        for column in range(depth - 1):
            k = depth - (column + 1)
            trace[3 * k**power :, column] = 1.0
        arrivals = c5.arrival_times(trace)
        assert arrivals[4] == 3 * 4**power
        assert c5.fitted_exponent(arrivals, depth) == pytest.approx(expected, abs=1e-12)


def test_c5_holds_for_pcalm_and_fails_for_pc(tmp_path):
    holds = c5.check(CheckContext(out=tmp_path / "alm"))
    assert holds.verdict == "holds", holds.to_dict()["criteria"]
    assert 0.7 <= holds.evidence["exponents"]["tested"] <= 1.4
    for figure in holds.figures:
        assert (tmp_path / "alm").joinpath("figures").is_dir() and figure.endswith(".png")
    fails = c5.check(CheckContext(method="pc", out=tmp_path / "pc"))
    assert fails.verdict == "fails"


def test_arrival_plot_draws_the_fits_over_their_range_and_reference_slopes(tmp_path, monkeypatch):
    """A wave front (arrival = k) and a diffusive one (arrival = k^2): the plot gets both fitted
    lines with their slopes, reference slopes 1 and 2, and the fit range 2 <= k <= L/2 shaded."""
    drawn = {}
    monkeypatch.setattr(c5, "plot_lines", lambda lines, path, **kw: drawn.update(lines=lines, **kw) or path)
    depth = 32
    arrivals = {"tested": {k: k for k in range(1, depth)}, "pc": {k: k * k for k in range(1, depth)}}
    c5._plot_arrivals(CheckContext(out=tmp_path), arrivals, depth, "pc-alm")
    labels = [line.label for line in drawn["lines"]]
    assert "pc-alm: fitted slope 1.00" in labels and "pc: fitted slope 2.00" in labels
    assert "reference slope 1 (wave)" in labels and "reference slope 2 (diffusion)" in labels
    assert (drawn["band"].low, drawn["band"].high) == (2, depth // 2)
    fitted = next(line for line in drawn["lines"] if line.label == "pc: fitted slope 2.00")
    assert fitted.x == [2.0, 16.0] and fitted.y == pytest.approx([4.0, 256.0], rel=1e-9)  # k^2 over the fit range


def test_ratio_plot_draws_the_two_thresholds_of_the_verdict(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(c5, "plot_lines", lambda lines, path, **kw: drawn.update(lines=lines, **kw) or path)
    c5._plot_ratios(CheckContext(out=tmp_path), np.ones(8), np.full(8, 1e-3), "pc-alm")
    assert sorted(t.y for t in drawn["thresholds"]) == [c5.PC_CONCENTRATION_CEILING, c5.GRADIENT_RATIO_FLOOR] == [0.1, 1 / 3]
    assert (drawn["band"].low, drawn["band"].high) == (1, 4)  # the lower half, where PC's median is judged


def test_a_negated_or_mis_sized_gradient_fails_c5s_budget_criteria():
    """Planted: per-layer gradients equal to BP's negated (cosine -1, ratio 1) must fail the
    direction criterion; ratios of 10 or 0.1 (cosine 1) must fail the size criteria."""
    import torch

    bp = [torch.randn(4, 3, generator=torch.Generator().manual_seed(l)) for l in range(5)]
    def states(grads):
        return [c.state for c in c5.budget_criteria("pc-alm", c5.norm_ratios(grads, bp), np.array(c5.layer_cosines(grads, bp)))]
    assert states(bp) == ["holds", "holds", "holds"]
    assert states([-g for g in bp]) == ["fails", "holds", "holds"]
    assert states([10 * g for g in bp]) == ["holds", "holds", "fails"]
    assert states([0.1 * g for g in bp]) == ["holds", "fails", "holds"]
