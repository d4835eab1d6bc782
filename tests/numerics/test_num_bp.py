"""BP reference (DESIGN section 1): gradients of the batch-mean loss, checked against central
finite differences of the loss written here from DESIGN (own forward pass, not the package's).
Tolerance as in test_num_energy: the loss is smooth except at relu kinks, which random
pre-activations miss by far more than h = 1e-6; 1e-6 (1 + loss) absolute per entry.
The backward signals enter the gradients (g_l = -(1/B) signal_l^T a_{l-1}), so a wrong
signal shows up here; test_num_equilibrium compares them with PC-ALM's multipliers."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numerics import bp_gradients
from numerics.activations import activation
from tests.numerics.numerics_nets import fewer_examples, central_gradient, nets


def design_loss(weights, x, y, act) -> float:
    phi, _ = activation(act)
    h = x @ weights[0].T
    for w in weights[1:]:
        h = phi(h) @ w.T
    return 0.5 * float(np.sum((y - h) ** 2)) / x.shape[0]


@fewer_examples(0.8)
@given(nets(max_depth=5, max_width=4), st.sampled_from(["linear", "tanh", "relu"]))
def test_bp_gradients_match_finite_differences(net, act):
    weights = [w.copy() for w in net.weights]
    result = bp_gradients(weights, net.x, net.y, act)
    loss = design_loss(weights, net.x, net.y, act)
    assert np.isclose(result.loss, loss, rtol=1e-12)
    fd = central_gradient(lambda: design_loss(weights, net.x, net.y, act), weights, 1e-6)
    for g, f in zip(result.weight_grads, fd):
        np.testing.assert_allclose(g, f, rtol=0, atol=1e-6 * (1 + loss))
