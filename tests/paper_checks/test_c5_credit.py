"""C5 on a smaller net: holds for PC-ALM, fails with PC as the method under test."""

import pytest

import paper_checks.c5_credit as c5
from paper_checks import CheckContext


@pytest.fixture(autouse=True)
def small_shape(monkeypatch):
    monkeypatch.setitem(c5.SHAPES, "quick", dict(depth=32, width=8, batch=16))


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
