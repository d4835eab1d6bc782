"""Saddle point of L_rho in nonlinear plain nets by root finding (DESIGN C1, nonlinear case)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import root

from numerics.energy import feedforward
from numerics.equilibrium import InferenceState, state_at
from numerics.kkt import join_state, saddle_residual, split_state

Array = np.ndarray


def nonlinear_saddle(
    weights: Sequence[Array],
    x: Array,
    y: Array,
    activation_name: str,
    rho: float = 1.0,
    tol: float = 1e-14,
) -> InferenceState:
    """Solve ``dL_rho/dz = 0, dL_rho/dlam = eps = 0`` (DESIGN section 3) with
    ``scipy.optimize.root`` (MINPACK hybrd) from the canonical start: feedforward z, ``lam = 0``.
    Plain MLP ``mu_1 = x W_1^T``, ``mu_l = phi(z_{l-1}) W_l^T``, no biases. Raises if the
    solver reports failure."""
    batch = x.shape[0]
    z0 = feedforward(weights, x, activation_name)[:-1]
    start = join_state(z0, [np.zeros_like(zl) for zl in z0], batch)
    if start.size == 0:
        return state_at(weights, x, y, [], [], rho, activation_name)
    shape = start.shape
    sol = root(
        lambda s: saddle_residual(weights, x, y, s.reshape(shape), rho, activation_name).ravel(),
        start.ravel(),
        method="hybr",
        tol=tol,
    )
    if not sol.success:
        raise RuntimeError(f"root finding failed: {sol.message}")
    z, lam = split_state(weights, sol.x.reshape(shape))
    return state_at(weights, x, y, z, lam, rho, activation_name)
