"""The one energy and its local rules (DESIGN sections 1-3).

Two independent checks: (1) the local rules equal finite-difference gradients of
``lagrangian`` (per-sample rules are B times the batch-mean gradient); (2) ``lagrangian``
equals DESIGN's formula written here per sample with column vectors (``W @ z``), which
catches transposes and a wrong batch mean.

Finite differences: central, h = 1e-6. For linear nets L_rho is quadratic in z and lam,
so the truncation error vanishes; in W (and for tanh) it is O(h^2 f''') ~ 1e-12. The
roundoff error is about u |L| / h ~ 1e-10 |L|. Tolerance: 1e-6 (1 + |L|) absolute on each
entry, four orders above both; a wrong rule is off by O(1).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numerics import activity_grads, feedforward, lagrangian, multiplier_grads, weight_grads
from numerics.activations import activation
from tests.numerics.numerics_nets import fewer_examples, central_gradient, nets, rhos

H = 1e-6
ACTIVATIONS = st.sampled_from(["linear", "tanh", "relu"])


def _random_state(net, seed):
    rng = np.random.default_rng(seed)
    batch = net.x.shape[0]
    z = [rng.standard_normal((batch, w.shape[0])) for w in net.weights[:-1]]
    lam = [rng.standard_normal(zl.shape) for zl in z]
    return z, lam


@fewer_examples(0.8)  # each example evaluates L_rho twice per entry of z, lam and W
@given(nets(max_depth=4, max_width=4, max_batch=3), rhos(), ACTIVATIONS, st.integers(0, 2**32 - 1))
def test_local_rules_are_gradients_of_the_energy(net, rho, act, seed):
    z, lam = _random_state(net, seed)
    weights = [w.copy() for w in net.weights]
    batch = net.x.shape[0]

    def energy() -> float:
        return lagrangian(weights, net.x, z, lam, net.y, rho, act)

    tol = 1e-6 * (1 + abs(energy()))
    fd_z = central_gradient(energy, z, H)
    fd_lam = central_gradient(energy, lam, H)
    fd_w = central_gradient(energy, weights, H)
    for rule, fd in zip(activity_grads(weights, net.x, z, lam, net.y, rho, act), fd_z):
        np.testing.assert_allclose(rule, batch * fd, rtol=0, atol=batch * tol)
    for rule, fd in zip(multiplier_grads(weights, net.x, z, net.y, act), fd_lam):
        np.testing.assert_allclose(rule, batch * fd, rtol=0, atol=batch * tol)
    for rule, fd in zip(weight_grads(weights, net.x, z, lam, net.y, rho, act), fd_w):
        np.testing.assert_allclose(rule, fd, rtol=0, atol=tol)


@given(nets(max_depth=5), rhos(), ACTIVATIONS, st.integers(0, 2**32 - 1))
def test_energy_matches_design_formula_per_sample(net, rho, act, seed):
    """L_rho = 1/B sum_b (1/2 |eps_L|^2 + sum_l <lam_l, eps_l> + rho/2 |eps_l|^2), written per
    sample with ``mu_1 = W_1 x``, ``mu_l = W_l phi(z_{l-1})``. Agreement to 1e-12 relative:
    the same floating-point sums in a different order (float64, at most a few hundred terms)."""
    phi, _ = activation(act)
    z, lam = _random_state(net, seed)
    total = 0.0
    for b in range(net.x.shape[0]):
        below = net.x[b]
        for l, w in enumerate(net.weights):
            mu = w @ (below if l == 0 else phi(below))
            if l == len(net.weights) - 1:
                eps = net.y[b] - mu
                total += 0.5 * eps @ eps
            else:
                eps = z[l][b] - mu
                total += lam[l][b] @ eps + 0.5 * rho * eps @ eps
                below = z[l][b]
    expected = total / net.x.shape[0]
    assert np.isclose(lagrangian(net.weights, net.x, z, lam, net.y, rho, act), expected, rtol=1e-12, atol=1e-300)


@given(nets(), ACTIVATIONS)
def test_feedforward_zeroes_hidden_errors(net, act):
    """The feedforward pass satisfies every constraint: eps_l = 0 exactly (same arithmetic)."""
    z = feedforward(net.weights, net.x, act)[:-1]
    for eps in multiplier_grads(net.weights, net.x, z, net.y, act):
        assert not eps.any()
