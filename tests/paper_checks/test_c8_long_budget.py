"""C8's pieces: (a) on a small tanh net and its flipped-dual negative control, and (b)'s judge on
misreported radii, undecided runs and synthetic distance traces. (The check itself runs in
tests/paper_checks/test_check_command.py with the other quick-tier checks.)"""

import math

import numpy as np
import pytest

import paper_checks.c8_long_budget as c8


@pytest.fixture(scope="module")
def small_net():
    rng = np.random.default_rng(0)
    weights = c8.net_weights("tanh", 4, 5, 3, seed=0)
    x, y = rng.standard_normal((3, 5)), rng.standard_normal((3, 3))
    return weights, x, y, c8.saddle_of(weights, x, y, "tanh")


def test_saddle_gradient_is_bp_and_the_flipped_dual_breaks_it(small_net):
    weights, x, y, saddle = small_net
    bp = c8.numerics.bp_gradients(weights, x, y, "tanh").weight_grads
    honest = c8.relative_error(saddle.weight_grads, bp)
    control = c8.flipped_dual_gradient(weights, x, y, saddle, "tanh")
    flipped = c8.relative_error(control, bp)
    assert honest <= c8.SADDLE_TOLERANCE
    # every layer fed by a multiplier gets minus BP's gradient; the read-out's (from eps_L) stays BP's
    for layer, expected in zip(control, [-g for g in bp[:-1]] + [bp[-1]]):
        assert np.abs(layer - expected).max() <= 1e-10 * np.abs(expected).max()
    assert c8.judge({"net": honest}, {}, {})[0].passed
    assert not c8.judge({"net": flipped}, {}, {})[0].passed


def test_predictions_need_a_decisive_radius():
    assert c8.predicted_behaviour(0.99, 200) == "approaches"  # 0.99^100 = 0.37
    assert c8.predicted_behaviour(1.01, 200) == "leaves"  # 1.01^100 = 2.7
    assert c8.predicted_behaviour(1.001, 200) == "undecided"  # 1.001^100 = 1.1
    steps = c8.judged_steps(1.001, depth=8)
    assert steps == 2 * math.ceil(math.log(c8.DECISIVE) / math.log(1.001)) and c8.predicted_behaviour(1.001, steps) == "leaves"
    assert c8.judged_steps(1.0 + 1e-9, depth=8) == c8.JUDGE_CAP * 8  # capped: stays undecided
    assert c8.predicted_behaviour(1.0 + 1e-9, c8.JUDGE_CAP * 8) == "undecided"


def test_observed_rate_of_an_oscillating_decay():
    """d(t) = 0.5 * 0.995^t * (1.2 + sin t): the fitted rate over the second half is 0.995 within
    the oscillation's effect on a least-squares slope over 300 steps (< 1e-3)."""
    t = np.arange(601)
    decay = 0.5 * 0.995**t * (1.2 + np.sin(t))
    assert c8.observed_rate(decay) == pytest.approx(0.995, abs=1e-3)
    assert c8.observed_behaviour(decay) == "approaches"
    assert c8.observed_behaviour(decay[::-1]) == "leaves"


def test_a_misreported_radius_fails_the_agreement():
    """Two nets the engine was seen to approach and leave: the true radii agree; a radius reported
    on the wrong side of 1 (or an undecided run counted as decided) does not."""
    observed = {"a": "approaches", "b": "leaves"}
    honest = {"a": c8.prediction(0.99, 2000, True), "b": c8.prediction(1.01, 2000, True)}
    assert all(c.passed for c in c8.judge({"a": 0.0, "b": 0.0}, honest, observed))
    misreported = {"a": c8.prediction(1.01, 2000, True), "b": honest["b"]}
    agreement = c8.judge({"a": 0.0, "b": 0.0}, misreported, observed)[1]
    assert not agreement.passed and agreement.measured == 1.0
    outside = {"a": c8.prediction(0.99, 2000, c8.linearisation_applies("relu", [1.0, 0.98])), "b": honest["b"]}
    assert outside["a"] == "undecided"
    assert not c8.judge({"a": 0.0, "b": 0.0}, outside, observed)[2].passed  # one decided net is too few
    assert c8.linearisation_applies("tanh", [0.5, 0.5]) and c8.linearisation_applies("relu", [1.0, 1.0])
