"""C2's measured part: the schedule's spectral radius at eta = 1/lambda_max, alpha = 1 stays below
1 (beyond LAPACK's error bound) on random linear nets; the error bound and the largest stable
alpha are what they say."""

from __future__ import annotations

import numpy as np
from hypothesis import given, seed
from hypothesis import strategies as st

from numerics import largest_stable_alpha, paper_eta, schedule_radius_error_bound, schedule_spectral_radius


@st.composite
def log_scaled_nets(draw) -> list[np.ndarray]:
    """Depth 2-8, widths 1-8, N(0, scale^2 / n_in) entries, scale log-uniform in [0.1, 10]."""
    depth = draw(st.integers(2, 8))
    widths = draw(st.lists(st.integers(1, 8), min_size=depth + 1, max_size=depth + 1))
    scale = float(np.exp(draw(st.floats(np.log(0.1), np.log(10.0)))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return [rng.standard_normal((widths[l + 1], widths[l])) * scale / np.sqrt(widths[l]) for l in range(depth)]


@seed(2)
@given(log_scaled_nets())
def test_no_counterexample_to_the_step_rule(weights):
    """A counterexample would have rho(M) - 1 above LAPACK's first-order error bound n u ||M|| kappa."""
    radius, bound = schedule_radius_error_bound(weights, paper_eta(weights), 1.0)
    assert radius - 1.0 <= bound


def test_error_bound_matches_the_radius_and_grows_with_the_eigenvalue_condition():
    """The bound's radius is schedule_spectral_radius's (both LAPACK, to 1e-12); the bound is at
    least n u ||M||_2 (kappa >= 1) and far below 1e-6 on a well-conditioned net."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((3, 4)) / 2, rng.standard_normal((2, 3)) / np.sqrt(3)]
    eta = paper_eta(weights)
    radius, bound = schedule_radius_error_bound(weights, eta, 1.0)
    assert abs(radius - schedule_spectral_radius(weights, eta, 1.0)) <= 1e-12
    assert 2 * 3 * np.finfo(float).eps / 2 <= bound <= 1e-6


def test_largest_stable_alpha_is_the_edge_of_stability():
    """Just below the returned alpha the radius is below 1, just above (beyond the bisection's
    relative width 1e-6) it is not."""
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((3, 4)) / 2, rng.standard_normal((3, 3)) / np.sqrt(3), rng.standard_normal((2, 3)) / np.sqrt(3)]
    eta = paper_eta(weights)
    edge = largest_stable_alpha(weights, eta)
    assert np.isfinite(edge) and edge > 1.0  # alpha = 1 is stable here (C2's rule)
    assert schedule_spectral_radius(weights, eta, edge) < 1.0
    assert schedule_spectral_radius(weights, eta, edge * (1 + 1e-5)) >= 1.0
