"""Saddle-point conditions of L_rho in stacked per-sample form (DESIGN C1).

The state of one sample is ``s = [z_1..z_{L-1}, lam_1..lam_{L-1}]`` (size 2n); a batch is
``(B, 2n)``. The residual is ``[dL/dz, dL/dlam] = [e_l - J_{l+1}^T e_{l+1}, eps_l]``, built from
the local rules in ``numerics.energy``; it vanishes exactly at a saddle point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from numerics.energy import activity_grads, multiplier_grads
from numerics.layout import hidden_sizes, stack, unstack

Array = np.ndarray


def split_state(weights: Sequence[Array], state: Array) -> tuple[list[Array], list[Array]]:
    """Split a ``(B, 2n)`` state into hidden activities ``z`` and multipliers ``lam``."""
    sizes = hidden_sizes(weights)
    n = sum(sizes)
    return unstack(state[:, :n], sizes), unstack(state[:, n:], sizes)


def join_state(z: Sequence[Array], lam: Sequence[Array], batch: int) -> Array:
    """Inverse of ``split_state``: ``(B, 2n)`` from per-layer ``z`` and ``lam``."""
    return np.concatenate([stack(z, batch), stack(lam, batch)], axis=1)


def saddle_residual(
    weights: Sequence[Array],
    x: Array,
    y: Array,
    state: Array,
    rho: float = 1.0,
    activation_name: str = "linear",
) -> Array:
    """Per-sample ``[dL_rho/dz, dL_rho/dlam]`` at ``state`` (``(B, 2n)``), DESIGN section 3."""
    z, lam = split_state(weights, state)
    batch = x.shape[0]
    dz = stack(activity_grads(weights, x, z, lam, y, rho, activation_name), batch)
    dlam = stack(multiplier_grads(weights, x, z, y, activation_name), batch)
    return np.concatenate([dz, dlam], axis=1)
