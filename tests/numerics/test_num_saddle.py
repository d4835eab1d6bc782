"""Nonlinear plain nets: the saddle point of L_rho found by root finding is BP (DESIGN C1)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numerics import bp_gradients, feedforward, largest_stable_eta, nonlinear_saddle, run_schedule
from tests.numerics.numerics_nets import fewer_examples, flat, make_net, nets, rel_err, rhos


@fewer_examples(0.6)  # root finding with a finite-difference Jacobian per example
@given(
    nets(max_depth=4, max_width=4, max_batch=3, min_scale=0.3, max_scale=2.0),
    rhos(0.1, 10.0),
    st.sampled_from(["tanh", "relu", "linear"]),
)
def test_root_found_saddle_gives_bp(net, rho, act):
    """From the feedforward start, ``scipy.optimize.root`` converges to z = feedforward,
    lam = BP's backward signals, and the weight gradient equals BP's to 1e-8 relative.
    The saddle system here is small (<= 24 unknowns per sample) and well conditioned
    (gains 0.3-2), so the solver's tolerance 1e-14 leaves errors near 1e-13. A relu net
    can be dead (BP's gradient exactly 0); an absolute floor of 1e-15 covers that case."""
    saddle = nonlinear_saddle(net.weights, net.x, net.y, act, rho)
    bp = bp_gradients(net.weights, net.x, net.y, act)

    def close(actual, expected) -> bool:
        return np.linalg.norm(flat(actual) - flat(expected)) <= 1e-8 * np.linalg.norm(flat(expected)) + 1e-15

    assert close(saddle.weight_grads, bp.weight_grads)
    if net.depth > 1:
        assert close(saddle.lam, bp.backward_signals)
        ff = flat(feedforward(net.weights, net.x, act)[:-1])
        assert np.linalg.norm(flat(saddle.z) - ff) <= 1e-8 * np.linalg.norm(ff)


def test_tanh_schedule_reaches_the_root_found_saddle():
    """The NumPy schedule with tanh reaches the root-found saddle's gradient (1e-8 relative).
    No spectral bound is computed for nonlinear nets; eta = 0.1 is a third of the linear
    net's bound with the same weights (a rough guide only), T = 3000."""
    net = make_net([3, 5, 4, 2], 2, 1.0, 5)
    assert largest_stable_eta(net.weights, 1.0) > 0.3
    saddle = nonlinear_saddle(net.weights, net.x, net.y, "tanh")
    run = run_schedule(net.weights, net.x, net.y, 0.1, 3000, activation_name="tanh")
    assert rel_err(run.weight_grads, saddle.weight_grads) <= 1e-8
