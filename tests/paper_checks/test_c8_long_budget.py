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
    starts = [("feedforward + noise", lambda: c8.noisy_start(weights, x, "tanh", 0))]
    saddle, used, failure = c8.fixed_point_of(weights, x, y, "tanh", "pc-alm", starts)
    assert failure == "" and used == ["feedforward + noise"] * 3
    return weights, x, y, saddle


def test_saddle_from_a_noisy_start_gives_bp_and_the_flipped_dual_breaks_it(small_net):
    weights, x, y, saddle = small_net
    bp = c8.numerics.bp_gradients(weights, x, y, "tanh").weight_grads
    z_start, _ = c8.noisy_start(weights, x, "tanh", 0)
    feedforward = c8.numerics.feedforward(weights, x, "tanh")[:-1]
    assert min(np.abs(a - b).max() for a, b in zip(z_start, feedforward)) > 1e-3  # the start is away from the feedforward pass
    honest = c8.relative_error(saddle.weight_grads, bp)
    control = c8.flipped_dual_gradient(weights, x, y, saddle, "tanh")
    flipped = c8.relative_error(control, bp)
    assert honest <= c8.SADDLE_TOLERANCE
    # every layer fed by a multiplier gets minus BP's gradient; the read-out's (from eps_L) stays BP's
    for layer, expected in zip(control, [-g for g in bp[:-1]] + [bp[-1]]):
        assert np.abs(layer - expected).max() <= 1e-10 * np.abs(expected).max()
    assert c8.judge({"net": honest}, {}, {}, {})[0].passed
    assert not c8.judge({"net": flipped}, {}, {}, {})[0].passed


def test_pcs_fixed_point_is_not_bp(small_net):
    """PC's equilibrium (dF/dz = 0, lam = 0) has grad F*, not BP's gradient: (a) fails under --algo pc."""
    weights, x, y, _ = small_net
    z0 = c8.numerics.feedforward(weights, x, "tanh")[:-1]
    fixed, _, failure = c8.fixed_point_of(weights, x, y, "tanh", "pc", [("feedforward", lambda: (z0, [np.zeros_like(z) for z in z0]))])
    assert failure == ""
    error = c8.relative_error(fixed.weight_grads, c8.numerics.bp_gradients(weights, x, y, "tanh").weight_grads)
    assert error > 1e-2
    assert c8.judge({"net": error}, {}, {}, {})[0].state == "fails"


def test_an_unsolved_net_is_undecided_not_failed():
    assert c8.judge({}, {"net": "sample 0: no start converged"}, {}, {})[0].state == "undecided"
    assert c8.judge({"other": 0.5}, {"net": "sample 0: no start converged"}, {}, {})[0].state == "fails"


def test_the_flipped_dual_sign_in_the_dynamics_and_weight_rule_fails_c8():
    """The negative control on a small tanh net: dual descent has r > 1 at the saddle, and the
    flipped weight rule's gradient is not BP's, so the control's verdict is "fails"."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, 5)), rng.standard_normal((2, 3))
    net = c8.measure_net("tanh", 4, x, y, 0, "pc-alm")
    assert net["unsolved"] == "" and net["fixed_point_vs_bp"] <= c8.SADDLE_TOLERANCE
    control = c8.flipped_control(net, x, y)
    assert control["radius"] > 1.0
    criteria = c8.judge({"net": control["fixed_point_vs_bp"]}, {}, {"net": control["reading"]}, {})
    assert c8.Verdict("C8", "control", criteria).verdict == "fails"


def test_predictions_need_a_decisive_radius():
    assert c8.predicted_behaviour(0.99, 200) == "approaches"  # 0.99^100 = 0.37
    assert c8.predicted_behaviour(1.01, 200) == "leaves"  # 1.01^100 = 2.7
    assert c8.predicted_behaviour(1.001, 200) == "undecided"  # 1.001^100 = 1.1
    steps = c8.judged_steps(1.001, depth=8)
    assert steps == 2 * math.ceil(math.log(c8.DECISIVE) / math.log(1.001)) and c8.predicted_behaviour(1.001, steps) == "leaves"
    cap_8, cap_128 = max(c8.JUDGE_CAP * 8, c8.JUDGE_CAP_STEPS), max(c8.JUDGE_CAP * 128, c8.JUDGE_CAP_STEPS)
    assert cap_8 == c8.JUDGE_CAP_STEPS and cap_128 == c8.JUDGE_CAP * 128  # the step floor for shallow nets, 256 L for deep ones
    assert c8.judged_steps(1.0 + 1e-9, depth=8) == cap_8  # capped: stays undecided
    assert c8.predicted_behaviour(1.0 + 1e-9, cap_8) == "undecided"
    assert c8.judged_steps(0.99, depth=16) == math.ceil(math.log(1 / c8.CONTRACTION) / -math.log(0.99))  # 2292: r^T = 1e-10
    assert c8.judged_steps(0.9999, depth=8) == cap_8  # r^T = 1e-10 needs 230k steps
    assert c8.judged_steps(0.9999, depth=128) == cap_128


def test_observed_behaviour_of_an_oscillating_decay_and_its_reverse():
    """d(t) = 0.5 * 0.995^t * (1.2 + sin t) over 1200 steps ends near 1e-3 (< NEAR), shrinking by
    0.995^600 = 0.05 over the second half: it approaches. Reversed, it came near and left."""
    t = np.arange(1201)
    decay = 0.5 * 0.995**t * (1.2 + np.sin(t))
    assert c8.observed_rate(decay) == pytest.approx(0.995, abs=1e-3)
    assert c8.observed_behaviour(decay) == "approaches"
    assert c8.observed_behaviour(decay[::-1]) == "leaves"
    assert c8.observed_behaviour(np.r_[1.0, np.full(10, 1e-9)]) == "approaches"  # reached: flat at the floor


def test_a_wandering_distance_is_not_read_as_approaching():
    """The full tier's tanh L = 64 seen on main: a distance wandering around 0.8 (min 0.37) whose
    fitted rate over the second half is just below 1 (here 0.999986 per step). It never comes
    within NEAR of the saddle: "does not reach", which r > 1 predicts and r < 1 leaves undecided."""
    t = np.arange(4097)
    wander = 0.8 * np.exp(-1.4e-5 * t) * (1 + 0.35 * np.sin(t / 150.0))
    assert 0.999 < c8.observed_rate(wander) < 1.0
    assert c8.observed_behaviour(wander) == "does not reach"
    assert c8.outcome("leaves", "does not reach") == ("agrees", "does not reach")
    assert c8.outcome("approaches", "does not reach")[0] == "undecided"


def test_a_misreported_radius_fails_the_agreement():
    """Two nets the engine was seen to approach and to leave: the true radii agree; a radius
    reported on the wrong side of 1 does not; a relu run outside the saddle's region is undecided."""
    observed = {"a": "approaches", "b": "leaves"}
    def readings(predicted, applies=(True, True)):
        return {k: dict(zip(("outcome", "why"), c8.outcome(predicted[k], observed[k], ok)), predicted=predicted[k], observed=observed[k]) for k, ok in zip("ab", applies)}
    honest = readings({"a": c8.predicted_behaviour(0.99, 2000), "b": c8.predicted_behaviour(1.01, 2000)})
    assert all(c.state != "fails" for c in c8.judge({"a": 0.0, "b": 0.0}, {}, honest, {}))
    misreported = readings({"a": c8.predicted_behaviour(1.01, 2000), "b": "leaves"})
    agreement = c8.judge({"a": 0.0, "b": 0.0}, {}, misreported, {})[1]
    assert not agreement.passed and agreement.measured == 1.0
    outside = readings({"a": "approaches", "b": "leaves"}, applies=(c8.linearisation_applies("relu", [1.0, 0.98]), True))
    assert outside["a"]["outcome"] == "undecided"
    assert not c8.judge({"a": 0.0, "b": 0.0}, {}, outside, {})[2].passed  # one decided net is too few
    assert c8.linearisation_applies("tanh", [0.5, 0.5]) and c8.linearisation_applies("relu", [1.0, 1.0])


def test_a_reached_run_with_a_gradient_other_than_bps_fails():
    assert c8.judge({}, {}, {}, {"net": 1.0})[3].state == "holds"
    assert c8.judge({}, {}, {}, {"net": 0.9})[3].state == "fails"
    assert c8.judge({}, {}, {}, {})[3].state == "undecided"
