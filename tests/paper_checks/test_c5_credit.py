"""C5 on the quick tier's net: holds for PC-ALM, fails with PC as the method under test.

(The quick tier's own shape, not a smaller one: at depth 32, width 8, batch 16 the lowest
layer's gradient reaches 0.29 of BP's at T = 2L, under the 1/3 floor, so C5's margin there is
thin; that is reported in the closing note, not hidden by a smaller test shape.)"""

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
