"""The Jacobian of the canonical schedule's outer iteration at a state, for nonlinear nets, and its
spectral radius (DESIGN C8; the linear map of ``numerics.schedule`` is its linear special case).

One outer iteration (``numerics.schedule.outer_iteration``: k activity steps, then the dual step
at the new z) maps each sample's ``[z; lam]`` on its own, so the batch Jacobian is block-diagonal
with one (2n, 2n) block per sample. Each block is formed by central differences: coordinate j of
a sample is moved by +-h (the samples do not interact, so every (sample, column) pair is one
row of a larger batch, and all columns come from two batched evaluations). The error is
O(h^2 |f'''|) + O(eps_machine / h): about 1e-10 for tanh at h = 1e-6; for relu the map is piecewise linear and the differences are exact unless a pre-activation lies
within h of the kink. With ``alpha = 0`` (PC) the multipliers stay 0 and the block acts on z alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from numerics.kkt import join_state, split_state
from numerics.schedule import outer_iteration

Array = np.ndarray


def outer_iteration_jacobian(
    weights: Sequence[Array],
    x: Array,
    y: Array,
    z: Sequence[Array],
    lam: Sequence[Array],
    eta: float,
    alpha: float,
    rho: float = 1.0,
    inner_steps: int = 1,
    activation_name: str = "linear",
    step: float = 1e-6,
) -> Array:
    """Per-sample Jacobians ``d [z'; lam'] / d [z; lam]`` of one outer iteration at ``(z, lam)``,
    shape (B, 2n, 2n) (for ``alpha = 0``: ``d z' / d z``, shape (B, n, n)), by central differences."""
    batch = x.shape[0]
    state = join_state(z, lam, batch)
    width = state.shape[1] // 2 if alpha == 0 else state.shape[1]
    # Every (sample, column) pair is one row of a larger batch: sample b's state moved along coordinate j.
    rows_x, rows_y = np.repeat(x, width, axis=0), np.repeat(y, width, axis=0)
    moves = np.zeros((width, state.shape[1]))
    moves[np.arange(width), np.arange(width)] = step

    def apply(sign: float) -> Array:
        moved = (state[:, None, :] + sign * moves[None]).reshape(batch * width, -1)
        zs, lams = split_state(weights, moved)
        out = join_state(*outer_iteration(weights, rows_x, rows_y, zs, lams, eta, alpha, rho, inner_steps, activation_name), batch * width)
        return out[:, :width].reshape(batch, width, width)

    return np.transpose(apply(1.0) - apply(-1.0), (0, 2, 1)) / (2 * step)


def spectral_radius_at(
    weights: Sequence[Array],
    x: Array,
    y: Array,
    z: Sequence[Array],
    lam: Sequence[Array],
    eta: float,
    alpha: float,
    rho: float = 1.0,
    inner_steps: int = 1,
    activation_name: str = "linear",
) -> float:
    """Largest spectral radius over the samples of ``outer_iteration_jacobian`` at ``(z, lam)``:
    near a fixed point, the asymptotic factor per outer iteration by which the schedule's distance
    to it shrinks (< 1) or grows (> 1)."""
    blocks = outer_iteration_jacobian(weights, x, y, z, lam, eta, alpha, rho, inner_steps, activation_name)
    return float(np.max(np.abs(np.linalg.eigvals(blocks)))) if blocks.size else 0.0
