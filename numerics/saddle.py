"""Fixed points of the inference dynamics in nonlinear plain nets by root finding (DESIGN C1,
nonlinear case; C8): PC-ALM's saddle point of L_rho, and PC's equilibrium of F."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import root

from numerics.energy import activity_grads, feedforward
from numerics.equilibrium import METHODS, InferenceState, state_at
from numerics.kkt import join_state, saddle_residual, split_state
from numerics.layout import hidden_sizes, stack, unstack

Array = np.ndarray


@dataclass
class FixedPointSolve:
    """A root-finding attempt: ``state`` (None where it did not converge), the largest absolute
    residual reached and MINPACK's message."""

    state: InferenceState | None
    max_residual: float
    message: str


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
    z0 = feedforward(weights, x, activation_name)[:-1]
    solve = solve_fixed_point(weights, x, y, activation_name, z0, [np.zeros_like(zl) for zl in z0], rho, "pc-alm", tol, residual_tol=0.0)
    if solve.state is None:
        raise RuntimeError(f"root finding failed: {solve.message}")
    return solve.state


def _residual(weights: Sequence[Array], x: Array, y: Array, state: Array, rho: float, activation_name: str, method: str) -> Array:
    """PC-ALM: ``[dL_rho/dz, eps]`` on ``[z; lam]``; PC: ``dF/dz`` (lam = 0, rho = 1) on z alone."""
    if method == "pc-alm":
        return saddle_residual(weights, x, y, state, rho, activation_name)
    z = unstack(state, hidden_sizes(weights))
    return stack(activity_grads(weights, x, z, [np.zeros_like(zl) for zl in z], y, 1.0, activation_name), x.shape[0])


def solve_fixed_point(
    weights: Sequence[Array],
    x: Array,
    y: Array,
    activation_name: str,
    z_start: Sequence[Array],
    lam_start: Sequence[Array],
    rho: float = 1.0,
    method: str = "pc-alm",
    tol: float = 1e-12,
    residual_tol: float = 1e-11,
    evaluations_per_unknown: int = 200,
) -> FixedPointSolve:
    """The method's fixed point from ``(z_start, lam_start)`` by MINPACK hybrd: PC-ALM's saddle
    point of L_rho (``dL_rho/dz = 0, eps = 0``), or PC's equilibrium (``dF/dz = 0``, lam = 0,
    rho = 1; ``lam_start`` is ignored). Never raises on non-convergence: the solve counts as
    converged where MINPACK reports success or, since hybrd stops with "not making good progress"
    once rounding dominates its steps, where the largest absolute residual is at most
    ``residual_tol``; otherwise ``state`` is None and the message says why. MINPACK stops after
    ``evaluations_per_unknown`` x (unknowns + 1) residual evaluations (200: its default)."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    batch = x.shape[0]
    start = join_state(z_start, lam_start, batch) if method == "pc-alm" else stack(list(z_start), batch)
    if start.size == 0:
        return FixedPointSolve(state_at(weights, x, y, [], [], rho, activation_name), 0.0, "no hidden layer")
    shape = start.shape
    with np.errstate(over="ignore", invalid="ignore"):
        sol = root(lambda s: _residual(weights, x, y, s.reshape(shape), rho, activation_name, method).ravel(), start.ravel(), method="hybr", tol=tol,
                   options={"maxfev": evaluations_per_unknown * (start.shape[1] + 1)})
        final = np.abs(_residual(weights, x, y, sol.x.reshape(shape), rho, activation_name, method))
    max_residual = float(final.max()) if np.all(np.isfinite(final)) else float("inf")
    if not (sol.success or max_residual <= residual_tol):
        return FixedPointSolve(None, max_residual, str(sol.message))
    if method == "pc-alm":
        z, lam = split_state(weights, sol.x.reshape(shape))
        return FixedPointSolve(state_at(weights, x, y, z, lam, rho, activation_name), max_residual, str(sol.message))
    z = unstack(sol.x.reshape(shape), hidden_sizes(weights))
    return FixedPointSolve(state_at(weights, x, y, z, [np.zeros_like(zl) for zl in z], 1.0, activation_name), max_residual, str(sol.message))
