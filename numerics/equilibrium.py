"""Exact equilibria of linear networks by one sparse linear solve (DESIGN C1, C3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np
from scipy.sparse.linalg import splu

from numerics.energy import lagrangian, weight_grads
from numerics.kkt import saddle_residual, split_state
from numerics.layout import hidden_sizes, unstack
from numerics.linear import activity_hessian, kkt_matrix
from numerics.serialise import JSONResult

Array = np.ndarray
METHODS = ("pc-alm", "pc")


@dataclass
class InferenceState(JSONResult):
    """Hidden activities, multipliers (zeros for PC), batch-mean weight gradients
    ``dL_rho/dW_l`` at ``(z, lam)`` and the batch-mean energy ``L_rho(z, lam)`` there."""

    z: list[Array]
    lam: list[Array]
    weight_grads: list[Array]
    energy: float


def state_at(
    weights: Sequence[Array],
    x: Array,
    y: Array,
    z: list[Array],
    lam: list[Array],
    rho: float,
    activation_name: str = "linear",
) -> InferenceState:
    """Package a state ``(z, lam)`` with its weight gradients and energy (DESIGN section 3)."""
    return InferenceState(
        z=z,
        lam=lam,
        weight_grads=weight_grads(weights, x, z, lam, y, rho, activation_name),
        energy=float(lagrangian(weights, x, z, lam, y, rho, activation_name)),
    )


def linear_equilibrium(
    weights: Sequence[Array], x: Array, y: Array, method: str = "pc-alm", rho: float = 1.0
) -> InferenceState:
    """Exact equilibrium of a linear, bias-free network (DESIGN C1 and section 2).

    ``method="pc-alm"``: the saddle point of L_rho, from the KKT system
    ``[[H, A^T], [A, 0]] [z; lam] = b`` (see ``numerics.linear``). ``method="pc"``: the
    minimiser of L_rho at ``lam = 0`` (PC's energy F; DESIGN's PC has ``rho = 1``), from
    ``H z = b``. In both cases ``b`` is minus the saddle residual at the zero state, so the
    right-hand side comes from the same local rules as everything else. One sparse LU
    factorisation of the per-sample matrix, solved for all B samples at once.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    batch = x.shape[0]
    sizes = hidden_sizes(weights)
    n = sum(sizes)
    if n == 0:
        return state_at(weights, x, y, [], [], rho)
    rhs = -saddle_residual(weights, x, y, np.zeros((batch, 2 * n)), rho)
    if method == "pc-alm":
        z, lam = split_state(weights, splu(kkt_matrix(weights, rho)).solve(rhs.T).T)
    else:
        z = unstack(splu(activity_hessian(weights, rho).tocsc()).solve(rhs[:, :n].T).T, sizes)
        lam = [np.zeros_like(zl) for zl in z]
    return state_at(weights, x, y, z, lam, rho)


def pc_free_energy(weights: Sequence[Array], x: Array, y: Array, rho: float = 1.0) -> complex:
    """PC's equilibrium energy ``F* = 1/(2B) sum_b r_b^T S^{-1} r_b`` (DESIGN section 2) with
    ``r = y - W_L..W_1 x`` and ``S = I + (1/rho) sum_{l=2}^L (W_L..W_l)(W_L..W_l)^T``
    (DESIGN's ``rho = 1``). Uses plain transposes only, so it is analytic in the weights
    and accepts complex arrays (complex-step derivatives)."""
    products = [reduce(lambda acc, w: acc @ w, weights[l:][::-1]) for l in range(len(weights))]
    residual = y - x @ products[0].T
    s = np.eye(y.shape[1]) + sum((p @ p.T for p in products[1:]), np.zeros((y.shape[1],) * 2)) / rho
    return np.sum(residual * np.linalg.solve(s, residual.T).T) / (2 * x.shape[0])
