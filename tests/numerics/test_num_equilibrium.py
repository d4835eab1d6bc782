"""Exact linear equilibria: PC-ALM's is BP (C1), PC's is the gradient of F* (C3).

Tolerance model (used by C1 and C3 properties). LU with partial pivoting is backward stable,
so the computed solution s of the per-sample system has normwise relative error at most
about ``C u cond(K)`` (u = float64 unit roundoff); ``C = 16`` covers LU's growth factor
(the measured ratio error / (u cond amp) stayed below 5 over 900 random nets). The weight
gradient ``-(1/B) e^T a`` is bilinear in solution entries, so its absolute error is about
``||ds|| (||a|| + ||e||) / B``; relative to ``||g||`` that is the amplification
``amp = ||s|| (||a|| + ||e||) / (B ||g||)``, large when the signal through many small
weights is tiny (gain 0.1, depth 8: g ~ 1e-8 ||s||). The tolerance is therefore
``max(1e-9, C u cond(K) amp)``: 1e-9 relative wherever the condition number allows, the
scaled bound where it is larger.
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest
from hypothesis import given

from numerics import (
    activity_hessian,
    bp_gradients,
    effective_errors,
    errors,
    feedforward,
    kkt_matrix,
    linear_equilibrium,
    pc_free_energy,
)
from numerics.kkt import join_state
from numerics import complex_step_gradient
from tests.numerics.numerics_nets import fewer_examples, UNIT_ROUNDOFF, flat, make_net, nets, rel_err, rhos

BASE_TOL = 1e-9
C = 16.0


def _gradient_tolerance(cond: float, state_norm: float, net, z, e, grads) -> float:
    amp = state_norm * (np.linalg.norm(flat([net.x] + z)) + np.linalg.norm(flat(e))) / (
        net.x.shape[0] * np.linalg.norm(flat(grads))
    )
    return max(BASE_TOL, C * UNIT_ROUNDOFF * cond * amp)


@given(nets(), rhos())
def test_pcalm_equilibrium_is_bp(net, rho):
    """C1: weight grads equal BP's, multipliers equal BP's backward signals, z is the
    feedforward pass, energy equals BP's loss. Depths 1-8, widths 1-6, batch 1-5, gain
    0.1-3, rho in [0.05, 20]."""
    eq = linear_equilibrium(net.weights, net.x, net.y, "pc-alm", rho)
    bp = bp_gradients(net.weights, net.x, net.y)
    if net.depth == 1:  # no hidden layer: both are -(1/B) (y - x W^T)^T x
        assert rel_err(eq.weight_grads, bp.weight_grads) <= BASE_TOL
        return
    cond = np.linalg.cond(kkt_matrix(net.weights, rho).toarray())
    state_norm = np.linalg.norm(join_state(eq.z, eq.lam, net.x.shape[0]))
    e = eq.lam + [bp.output_error]
    tol = _gradient_tolerance(cond, state_norm, net, eq.z, e, bp.weight_grads)
    assert rel_err(eq.weight_grads, bp.weight_grads) <= tol
    # multipliers: normwise solve error relative to ||lam||
    lam_tol = max(BASE_TOL, C * UNIT_ROUNDOFF * cond * state_norm / np.linalg.norm(flat(bp.backward_signals)))
    assert rel_err(eq.lam, bp.backward_signals) <= lam_tol
    ff = feedforward(net.weights, net.x)[:-1]
    assert np.linalg.norm(flat(eq.z) - flat(ff)) <= C * UNIT_ROUNDOFF * cond * state_norm


def _s_matrix(weights, rho=1.0):
    n_out = weights[-1].shape[0]
    products = [reduce(lambda acc, w: acc @ w, weights[l:][::-1]) for l in range(1, len(weights))]
    return np.eye(n_out) + sum((p @ p.T for p in products), np.zeros((n_out, n_out))) / rho


@fewer_examples(0.6)  # complex-step reference costs one F* per weight entry
@given(nets(min_depth=2))
def test_pc_equilibrium_is_gradient_of_free_energy(net):
    """C3: PC's equilibrium weight grads equal dF*/dW (complex-step derivatives of DESIGN's
    closed form), and its energy equals F*. Tolerance: as for C1 with cond(H) + cond(S),
    since the reference F* itself solves with S (measured ratio <= 5 over 300 nets)."""
    eq = linear_equilibrium(net.weights, net.x, net.y, "pc")
    reference = complex_step_gradient(lambda ws: pc_free_energy(ws, net.x, net.y), net.weights)
    cond = np.linalg.cond(activity_hessian(net.weights).toarray()) + np.linalg.cond(_s_matrix(net.weights))
    e = effective_errors(errors(net.weights, net.x, eq.z, net.y), eq.lam, 1.0)
    tol = _gradient_tolerance(cond, np.linalg.norm(flat(eq.z)), net, eq.z, e, reference)
    assert rel_err(eq.weight_grads, reference) <= tol
    assert abs(eq.energy - pc_free_energy(net.weights, net.x, net.y).real) <= tol * eq.energy
    assert not flat(eq.lam).any()


@given(nets(min_depth=2, min_scale=0.3))
def test_pc_differs_from_bp_when_s_is_not_identity(net):
    """C3, one direction: at depth >= 2, S != I and PC's gradient differs from BP's by far
    more than the 1e-9 agreement tolerance (observed minimum over 400 random nets: 8e-2;
    asserted: 1e-4, i.e. 1e5 times the tolerance)."""
    pc = linear_equilibrium(net.weights, net.x, net.y, "pc")
    bp = bp_gradients(net.weights, net.x, net.y)
    assert rel_err(pc.weight_grads, bp.weight_grads) > 1e-4


@given(nets(max_depth=1))
def test_pc_equals_bp_at_depth_one(net):
    """C3, other direction: with no hidden layer S = I, and PC's gradient is BP's."""
    pc = linear_equilibrium(net.weights, net.x, net.y, "pc")
    assert rel_err(pc.weight_grads, bp_gradients(net.weights, net.x, net.y).weight_grads) <= BASE_TOL


@given(nets(min_depth=2))
def test_pc_equals_bp_when_readout_is_zero(net):
    """C3, other direction at depth >= 2: W_L = 0 makes every product W_L..W_l vanish, so
    S = I and dS/dW = 0 there, and PC's gradient equals BP's (only the read-out's is
    non-zero). Tolerance: the module's model with cond(H)."""
    weights = [w.copy() for w in net.weights]
    weights[-1][:] = 0.0
    assert np.array_equal(_s_matrix(weights), np.eye(weights[-1].shape[0]))
    pc = linear_equilibrium(weights, net.x, net.y, "pc")
    bp = bp_gradients(weights, net.x, net.y)
    cond = np.linalg.cond(activity_hessian(weights).toarray())
    e = effective_errors(errors(weights, net.x, pc.z, net.y), pc.lam, 1.0)
    tol = _gradient_tolerance(cond, np.linalg.norm(flat(pc.z)), net, pc.z, e, bp.weight_grads)
    assert rel_err(pc.weight_grads, bp.weight_grads) <= tol


def test_pc_gradient_cosine_to_bp_falls_with_depth():
    """C3: PC's cosine to BP falls with depth (fixed gain-1 nets of width 4, averaged over
    five seeds per depth). Asserted: strictly decreasing over depths 2, 4, 8."""
    def cosine(depth: int) -> float:
        values = []
        for seed in range(5):
            net = make_net([4] * (depth + 1), 5, 1.0, seed)
            pc = flat(linear_equilibrium(net.weights, net.x, net.y, "pc").weight_grads)
            bp = flat(bp_gradients(net.weights, net.x, net.y).weight_grads)
            values.append(pc @ bp / np.linalg.norm(pc) / np.linalg.norm(bp))
        return float(np.mean(values))

    cosines = [cosine(d) for d in (2, 4, 8)]
    assert cosines[0] > cosines[1] > cosines[2]


def test_equilibrium_energies():
    """At PC-ALM's saddle every hidden eps is 0, so L_rho equals BP's loss; at PC's minimum
    F equals F*. A fixed gain-1 net (cond(K) ~ 1e2): 1e-12 relative, float64 with margin."""
    net = make_net([3, 4, 5, 2], 3, 1.0, 7)
    assert np.isclose(
        linear_equilibrium(net.weights, net.x, net.y, "pc-alm", 0.5).energy,
        bp_gradients(net.weights, net.x, net.y).loss,
        rtol=1e-12,
        atol=0,
    )
    assert np.isclose(
        linear_equilibrium(net.weights, net.x, net.y, "pc").energy,
        pc_free_energy(net.weights, net.x, net.y).real,
        rtol=1e-12,
        atol=0,
    )


def test_rejects_unknown_method():
    net = make_net([2, 2, 2], 1, 1.0, 0)
    with pytest.raises(ValueError):
        linear_equilibrium(net.weights, net.x, net.y, "bp")
