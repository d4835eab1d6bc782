"""Largest eigenvalue of the activity Hessian and the paper's step ``eta = 1/lambda_max``
(DESIGN section 3, paper defaults) for linear nets, per sample.

The Hessian of L_rho in z is ``H = rho A^T A + D^T D`` (``numerics.linear``); it does not
depend on lam, x or y. Two routes: dense ``eigvalsh`` of the assembled H, and power
iteration on Hessian-vector products taken from the local activity rule (for a linear net
the per-sample activity gradient at ``x = 0, y = 0, lam = 0`` is exactly ``H z``), which
never forms H and so scales to large nets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from numerics.energy import activity_grads
from numerics.layout import hidden_sizes, stack, unstack
from numerics.linear import activity_hessian

Array = np.ndarray


def _require_hidden(weights: Sequence[Array]) -> list[int]:
    sizes = hidden_sizes(weights)
    if not sizes:
        raise ValueError("depth L = 1 has no hidden activities, hence no activity Hessian")
    return sizes


def hessian_lambda_max(weights: Sequence[Array], rho: float = 1.0) -> float:
    """``lambda_max(H)`` by dense ``eigvalsh`` (DESIGN section 3, eta = 1/lambda_max)."""
    _require_hidden(weights)
    return float(np.linalg.eigvalsh(activity_hessian(weights, rho).toarray())[-1])


def hessian_vector_product(weights: Sequence[Array], v: Array, rho: float = 1.0) -> Array:
    """``H v`` for stacked per-sample vectors ``v`` (B, n), from the local activity rule
    ``e_l - W_{l+1}^T e_{l+1}`` evaluated with zero input, target and multipliers."""
    sizes = _require_hidden(weights)
    batch = v.shape[0]
    x = np.zeros((batch, weights[0].shape[1]))
    y = np.zeros((batch, weights[-1].shape[0]))
    z = unstack(v, sizes)
    return stack(activity_grads(weights, x, z, [np.zeros_like(zl) for zl in z], y, rho), batch)


def hessian_lambda_max_power(
    weights: Sequence[Array], rho: float = 1.0, tol: float = 1e-13, max_iter: int = 100_000, seed: int = 0
) -> float:
    """``lambda_max(H)`` by power iteration on Hessian-vector products (H is positive
    definite, so the dominant eigenvalue is the largest). Returns the Rayleigh quotient,
    a lower bound that converges like ``(lambda_2/lambda_1)^(2k)``; stops when it changes
    by less than ``tol`` relative, or after ``max_iter`` products."""
    sizes = _require_hidden(weights)
    v = np.random.default_rng(seed).standard_normal((1, sum(sizes)))
    v /= np.linalg.norm(v)
    estimate = 0.0
    for _ in range(max_iter):
        hv = hessian_vector_product(weights, v, rho)
        new = float(np.sum(v * hv))
        v = hv / np.linalg.norm(hv)
        if abs(new - estimate) <= tol * new:
            return new
        estimate = new
    return estimate


def paper_eta(weights: Sequence[Array], rho: float = 1.0, power_iteration: bool = False) -> float:
    """The paper's activity step ``eta = 1/lambda_max(H)`` (DESIGN section 3)."""
    lam_max = hessian_lambda_max_power(weights, rho) if power_iteration else hessian_lambda_max(weights, rho)
    return 1.0 / lam_max
