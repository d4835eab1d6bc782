"""The canonical discrete schedule: its linear map, spectral radius and stable step (DESIGN C2)."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from numerics import (
    bp_gradients,
    feedforward,
    hessian_lambda_max,
    largest_stable_eta,
    linear_equilibrium,
    outer_iteration,
    run_schedule,
    schedule_map,
    schedule_spectral_radius,
)
from numerics.kkt import join_state, split_state
from tests.numerics.numerics_nets import fewer_examples, make_net, nets, rel_err, rhos

SMALL = dict(min_depth=2, max_depth=5, max_width=6, max_batch=3, min_scale=0.5, max_scale=1.5)


@given(nets(min_depth=2), rhos(), st.floats(0.1, 2.0), st.floats(0.0, 3.0), st.integers(1, 3))
def test_schedule_map_is_the_linear_part_of_one_outer_iteration(net, rho, eta_factor, alpha, k):
    """``schedule_map`` (assembled from H and A) equals one outer iteration of the local rules
    applied to unit states with x = y = 0 (the affine part vanishes). Tolerance 1e-11 of the
    largest entry: float64, k <= 3 products of matrices with entries <= ~1e3."""
    eta = eta_factor / hessian_lambda_max(net.weights, rho)
    n = sum(w.shape[0] for w in net.weights[:-1])
    size = n if alpha == 0 else 2 * n
    x = np.zeros((size, net.weights[0].shape[1]))
    y = np.zeros((size, net.weights[-1].shape[0]))
    unit = np.eye(size) if alpha else np.hstack([np.eye(n), np.zeros((n, n))])
    z, lam = split_state(net.weights, unit)
    z, lam = outer_iteration(net.weights, x, y, z, lam, eta, alpha, rho, k)
    columns = join_state(z, lam, size)[:, :size].T
    expected = schedule_map(net.weights, eta, alpha, rho, k)
    np.testing.assert_allclose(expected, columns, rtol=0, atol=1e-11 * np.abs(columns).max())


@fewer_examples(0.4)  # ~75 eigenvalue problems per example
@given(nets(min_depth=2), rhos(), st.integers(1, 3))
def test_pc_stable_step_is_two_over_lambda_max(net, rho, k):
    """For alpha = 0 the map is (I - eta H)^k, stable iff eta < 2/lambda_max(H) (any k).
    Bisection runs to relative width 1e-10; tolerance 1e-9 relative."""
    expected = 2.0 / np.linalg.eigvalsh(_hessian(net.weights, rho))[-1]
    assert abs(largest_stable_eta(net.weights, 0.0, rho, k) - expected) <= 1e-9 * expected


def _hessian(weights, rho):
    """Per-sample activity Hessian written from DESIGN for the test: rho A^T A + D^T D."""
    sizes = [w.shape[0] for w in weights[:-1]]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    a = np.eye(offsets[-1])
    for l in range(1, len(sizes)):
        a[offsets[l] : offsets[l + 1], offsets[l - 1] : offsets[l]] = -weights[l]
    d = np.zeros((weights[-1].shape[0], offsets[-1]))
    d[:, offsets[-2] :] = weights[-1]
    return rho * a.T @ a + d.T @ d


@given(st.integers(1, 4), st.integers(1, 4), st.floats(-3, 3), rhos(), st.floats(0.05, 5.0), st.integers(0, 99))
def test_single_hidden_unit_bound_matches_closed_form(n_in, n_out, gain, rho, alpha, seed):
    """One hidden unit, k = 1: H = h = rho + ||W_2||^2, A = 1, and Jury's criterion on
    M = [[1 - eta h, -eta], [alpha (1 - eta h), 1 - alpha eta]] (det 1 - eta h,
    trace 2 - eta (h + alpha)) gives eta_max = 4 / (2 h + alpha). Tolerance 1e-9 relative."""
    net = make_net([n_in, 1, n_out], 1, 1.0, seed)
    weights = [net.weights[0], gain * net.weights[1]]
    h = rho + float(np.sum(weights[1] ** 2))
    expected = 4.0 / (2.0 * h + alpha)
    assert abs(largest_stable_eta(weights, alpha, rho) - expected) <= 1e-9 * expected


def _iterate(net, eta, alpha, rho, iterations):
    """Stacked state after ``iterations`` outer iterations from the canonical start."""
    z = feedforward(net.weights, net.x)[:-1]
    lam = [np.zeros_like(zl) for zl in z]
    for _ in range(iterations):
        z, lam = outer_iteration(net.weights, net.x, net.y, z, lam, eta, alpha, rho)
    return join_state(z, lam, net.x.shape[0])


@fewer_examples(0.48)  # up to ~6000 outer iterations per example
@given(nets(**SMALL), rhos(0.3, 3.0), st.floats(0.2, 2.0), st.floats(0.5, 0.97), st.floats(1.03, 1.5))
def test_schedule_converges_below_the_bound_and_diverges_above(net, rho, alpha, below, above):
    """Run outer iterations from the canonical start (feedforward z, lam = 0), k = 1.
    Below: eta = below * eta_max; the iterations for a 1e-8 decay at the predicted radius
    r, log(1e-8)/log(r), doubled plus 50 for non-normal transients; examples needing more
    than 6000 are skipped (gains 0.5-1.5 make that rare: ~5% of draws). Asserted: distance
    to ``linear_equilibrium`` <= 1e-6 of the starting distance. Above: eta = above *
    eta_max; after log(1e6)/log(r) + 50 iterations the distance has grown over 1e3-fold."""
    eta_max = largest_stable_eta(net.weights, alpha, rho, rtol=1e-6)
    r_below = schedule_spectral_radius(net.weights, below * eta_max, alpha, rho)
    n_below = 2 * int(np.ceil(np.log(1e-8) / np.log(r_below))) + 50
    assume(n_below <= 6000)
    exact = linear_equilibrium(net.weights, net.x, net.y, "pc-alm", rho)
    target = join_state(exact.z, exact.lam, net.x.shape[0])
    start = np.linalg.norm(_iterate(net, eta_max, alpha, rho, 0) - target)
    assert np.linalg.norm(_iterate(net, below * eta_max, alpha, rho, n_below) - target) <= 1e-6 * start
    r_above = schedule_spectral_radius(net.weights, above * eta_max, alpha, rho)
    assert r_above > 1
    n_above = int(np.ceil(np.log(1e6) / np.log(r_above))) + 50
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.linalg.norm(_iterate(net, above * eta_max, alpha, rho, n_above) - target) > 1e3 * start


def test_spectral_radius_predicts_the_observed_contraction():
    """The schedule's distance d_t to its fixed point shrinks like r^t asymptotically. Run
    until d_t < 1e-11 d_0 (above the float64 floor ~1e-15) and fit log d_t against t by
    least squares over the last two thirds of the run: faster modes have then died out and
    the fit averages the beating of near-equal complex pairs. Over 15 nets x settings the
    fitted rate stayed within 2.5% of the decay per step (1 - r) from r; tolerance 5%."""
    for seed, (eta_factor, alpha, k) in enumerate([(0.5, 1.0, 1), (0.8, 0.5, 2), (0.3, 2.0, 1)]):
        net = make_net([3, 5, 4, 4, 2], 2, 1.0, seed)
        eta = eta_factor * largest_stable_eta(net.weights, alpha, inner_steps=k, rtol=1e-6)
        radius = schedule_spectral_radius(net.weights, eta, alpha, inner_steps=k)
        exact = linear_equilibrium(net.weights, net.x, net.y)
        target = join_state(exact.z, exact.lam, 2)
        z = feedforward(net.weights, net.x)[:-1]
        lam = [np.zeros_like(zl) for zl in z]
        distances = [np.linalg.norm(join_state(z, lam, 2) - target)]
        while distances[-1] > 1e-11 * distances[0] and len(distances) < 20000:
            z, lam = outer_iteration(net.weights, net.x, net.y, z, lam, eta, alpha, 1.0, k)
            distances.append(np.linalg.norm(join_state(z, lam, 2) - target))
        window = slice(len(distances) // 3, None)
        slope = np.polyfit(np.arange(len(distances))[window], np.log(distances)[window], 1)[0]
        assert abs(np.exp(slope) - radius) <= 0.05 * (1.0 - radius)


def test_long_schedule_gives_bp_gradients_and_pc_gives_pc():
    """The canonical schedule itself (run_schedule, pre-dual gradient) at T = 2000 with
    eta = 0.5 eta_max: PC-ALM's weight gradient equals BP's, PC's (alpha = 0, rho = 1)
    equals PC's equilibrium. Predicted remaining error r^T < 1e-20 here; tolerance 1e-9."""
    net = make_net([3, 5, 4, 2], 3, 1.0, 11)
    eta = 0.5 * largest_stable_eta(net.weights, 1.0, rtol=1e-6)
    assert schedule_spectral_radius(net.weights, eta, 1.0) ** 2000 < 1e-20
    pcalm = run_schedule(net.weights, net.x, net.y, eta, 2000, alpha=1.0)
    assert rel_err(pcalm.weight_grads, bp_gradients(net.weights, net.x, net.y).weight_grads) <= 1e-9
    pc = run_schedule(net.weights, net.x, net.y, eta, 2000, alpha=0.0)
    assert rel_err(pc.weight_grads, linear_equilibrium(net.weights, net.x, net.y, "pc").weight_grads) <= 1e-9
