"""The Jacobian of one outer iteration at a state (DESIGN C8): in linear nets it is the schedule's
linear map (numerics.schedule), whatever the state; in tanh nets it matches a second, independent
finite-difference estimate; its spectral radius is that of the blocks."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numerics import (
    feedforward,
    hessian_lambda_max,
    outer_iteration,
    outer_iteration_jacobian,
    schedule_map,
    schedule_spectral_radius,
    spectral_radius_at,
)
from numerics.kkt import join_state, split_state
from tests.numerics.numerics_nets import nets, rhos


@given(nets(min_depth=2), rhos(), st.floats(0.1, 2.0), st.floats(0.0, 3.0), st.integers(1, 3))
def test_linear_nets_jacobian_is_the_schedule_map_at_any_state(net, rho, eta_factor, alpha, k):
    """Central differences of an affine map are exact up to roundoff: |f| eps / h with |f| <= ~1e3
    and h = 1e-6 gives ~1e-7 at worst; the tolerance is 1e-6 of the map's largest entry."""
    eta = eta_factor / hessian_lambda_max(net.weights, rho)
    rng = np.random.default_rng(0)
    z = [rng.standard_normal(a.shape) for a in feedforward(net.weights, net.x)[:-1]]
    lam = [rng.standard_normal(a.shape) for a in z]
    blocks = outer_iteration_jacobian(net.weights, net.x, net.y, z, lam, eta, alpha, rho, k)
    expected = schedule_map(net.weights, eta, alpha, rho, k)
    assert blocks.shape == (net.x.shape[0],) + expected.shape
    scale = max(1.0, np.abs(expected).max())
    assert np.abs(blocks - expected).max() <= 1e-6 * scale
    assert abs(spectral_radius_at(net.weights, net.x, net.y, z, lam, eta, alpha, rho, k) - schedule_spectral_radius(net.weights, eta, alpha, rho, k)) <= 1e-5 * scale


def test_tanh_jacobian_matches_one_sided_differences_column_by_column():
    """An independent estimate: forward differences (error O(h) ~ 1e-7 at h = 1e-7, plus roundoff
    1e-9) of the outer iteration, one column and one sample at a time; tolerance 1e-5."""
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((4, 3)) / np.sqrt(3), rng.standard_normal((4, 4)) / 2, rng.standard_normal((2, 4)) / 2]
    x, y = rng.standard_normal((2, 3)), rng.standard_normal((2, 2))
    z = [a + 0.1 * rng.standard_normal(a.shape) for a in feedforward(weights, x, "tanh")[:-1]]
    lam = [rng.standard_normal(a.shape) for a in z]
    blocks = outer_iteration_jacobian(weights, x, y, z, lam, 0.2, 1.0, 1.0, 2, "tanh")
    base = join_state(*outer_iteration(weights, x, y, z, lam, 0.2, 1.0, 1.0, 2, "tanh"), 2)
    state, h = join_state(z, lam, 2), 1e-7
    for j in range(state.shape[1]):
        moved = state.copy()
        moved[0, j] += h
        column = (join_state(*outer_iteration(weights, x, y, *split_state(weights, moved), 0.2, 1.0, 1.0, 2, "tanh"), 2) - base) / h
        assert np.abs(column[0] - blocks[0, :, j]).max() <= 1e-5
        assert np.abs(column[1]).max() == 0.0  # sample 1 does not feel sample 0
