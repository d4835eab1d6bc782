"""The linear residual MLP as a linear net with effective weights (DESIGN section 1)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numerics import (
    bp_gradients,
    feedforward,
    linear_equilibrium,
    residual_effective_weights,
    residual_scales,
    residual_weight_grads,
)
from tests.numerics.numerics_nets import fewer_examples, central_gradient, rel_err


def _residual_net(n_in, width, depth, n_out, batch, seed):
    rng = np.random.default_rng(seed)
    weights = (
        [rng.standard_normal((width, n_in))]
        + [rng.standard_normal((width, width)) for _ in range(depth - 2)]
        + [rng.standard_normal((n_out, width))]
    )
    return weights, rng.standard_normal((batch, n_in)), rng.standard_normal((batch, n_out))


def _design_forward(weights, x):
    """DESIGN section 1 with phi = identity, written out: mu_1 = x W_1^T / sqrt(n_0),
    mu_l = z + z W_l^T / sqrt(N L), mu_L = z W_L^T / N."""
    depth, width = len(weights), weights[0].shape[0]
    z = x @ weights[0].T / np.sqrt(x.shape[1])
    for w in weights[1:-1]:
        z = z + z @ w.T / np.sqrt(width * depth)
    return z @ weights[-1].T / width


SHAPES = (st.integers(1, 5), st.integers(1, 5), st.integers(2, 6), st.integers(1, 4), st.integers(1, 3))


@given(*SHAPES, st.integers(0, 2**32 - 1))
def test_effective_weights_reproduce_the_residual_forward_pass(n_in, width, depth, n_out, batch, seed):
    """Same outputs to 1e-12 relative (float64, differently ordered sums)."""
    weights, x, _ = _residual_net(n_in, width, depth, n_out, batch, seed)
    out = feedforward(residual_effective_weights(weights), x)[-1]
    np.testing.assert_allclose(out, _design_forward(weights, x), rtol=1e-12, atol=1e-14)
    assert len(residual_scales(weights)) == depth


@fewer_examples(0.4)  # finite differences over every raw weight entry
@given(*SHAPES, st.integers(0, 2**32 - 1))
def test_equilibrium_gradients_on_raw_weights_equal_the_residual_loss_gradient(
    n_in, width, depth, n_out, batch, seed
):
    """PC-ALM's equilibrium on effective weights, mapped back by ``residual_weight_grads``,
    equals central finite differences of the residual MSE loss in the raw weights (the loss
    is a polynomial of degree 2L; h = 1e-5 gives truncation ~1e-10 and roundoff ~1e-11;
    tolerance 1e-6 (1 + loss) absolute per entry). BP on effective weights gives the same."""
    weights, x, y = _residual_net(n_in, width, depth, n_out, batch, seed)
    raw = [w.copy() for w in weights]

    def loss() -> float:
        return 0.5 * float(np.sum((y - _design_forward(raw, x)) ** 2)) / batch

    fd = central_gradient(loss, raw, 1e-5)
    eff = residual_effective_weights(weights)
    mapped = residual_weight_grads(linear_equilibrium(eff, x, y).weight_grads, weights)
    for g, f in zip(mapped, fd):
        np.testing.assert_allclose(g, f, rtol=0, atol=1e-6 * (1 + loss()))
    bp = residual_weight_grads(bp_gradients(eff, x, y).weight_grads, weights)
    assert rel_err(mapped, bp) <= 1e-9


def test_results_serialise_to_json():
    """ARCHITECTURE: results are plain dataclasses that serialise to JSON."""
    import json

    import numerics

    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((3, 2)), rng.standard_normal((2, 3))]
    x, y = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    state = numerics.linear_equilibrium(weights, x, y)
    data = json.loads(json.dumps(state.to_dict()))
    assert np.allclose(np.array(data["weight_grads"][0]), state.weight_grads[0], rtol=0, atol=0)
    assert data["energy"] == state.energy
    assert json.dumps(numerics.bp_gradients(weights, x, y).to_dict())
