"""The canonical discrete schedule of DESIGN section 3 in NumPy, its linear map per outer
iteration, spectral radius and largest stable activity step (DESIGN C2).

One outer iteration is ``k`` activity steps ``z <- z - eta (e_l - J_{l+1}^T e_{l+1})`` (all
layers at once, per sample) followed by the dual step ``lam <- lam + alpha eps(z)``. For a
linear net it is affine in ``(z, lam)``; its linear part, the same for every sample, is

    M = [[I, 0], [alpha A, I]] @ [[I - eta H, -eta A^T], [0, I]]^k

and the input and target enter only the constant part, so they do not change ``rho(M)``.
With ``alpha = 0`` (PC) the multipliers stay at zero and the map is ``(I - eta H)^k`` on z.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import eig

from numerics.energy import activity_grads, feedforward, multiplier_grads
from numerics.equilibrium import InferenceState, state_at
from numerics.hessian import hessian_lambda_max
from numerics.linear import activity_hessian, constraint_matrix

Array = np.ndarray


def outer_iteration(
    weights: Sequence[Array],
    x: Array,
    y: Array,
    z: list[Array],
    lam: list[Array],
    eta: float,
    alpha: float,
    rho: float = 1.0,
    inner_steps: int = 1,
    activation_name: str = "linear",
) -> tuple[list[Array], list[Array]]:
    """``inner_steps`` activity steps, then one dual step at the new z (DESIGN section 3)."""
    for _ in range(inner_steps):
        grads = activity_grads(weights, x, z, lam, y, rho, activation_name)
        z = [zl - eta * g for zl, g in zip(z, grads)]
    lam = [m + alpha * ep for m, ep in zip(lam, multiplier_grads(weights, x, z, y, activation_name))]
    return z, lam


def run_schedule(
    weights: Sequence[Array],
    x: Array,
    y: Array,
    eta: float,
    steps: int,
    alpha: float = 1.0,
    rho: float = 1.0,
    inner_steps: int = 1,
    activation_name: str = "linear",
) -> InferenceState:
    """The canonical schedule (DESIGN section 3): feedforward start, ``lam = 0``; ``steps - 1``
    outer iterations; ``inner_steps`` final activity steps; weight gradient pre-dual, at
    ``(z, lam)``. PC is ``alpha = 0, rho = 1``."""
    if steps < 1:
        raise ValueError("steps (T) must be >= 1")
    z = feedforward(weights, x, activation_name)[:-1]
    lam = [np.zeros_like(zl) for zl in z]
    for _ in range(steps - 1):
        z, lam = outer_iteration(weights, x, y, z, lam, eta, alpha, rho, inner_steps, activation_name)
    z, _ = outer_iteration(weights, x, y, z, lam, eta, 0.0, rho, inner_steps, activation_name)
    return state_at(weights, x, y, z, lam, rho, activation_name)


def schedule_map(
    weights: Sequence[Array], eta: float, alpha: float, rho: float = 1.0, inner_steps: int = 1
) -> Array:
    """Dense per-sample linear part ``M`` of one outer iteration on ``[z; lam]`` (module
    docstring); for ``alpha = 0`` the map ``(I - eta H)^k`` on z alone."""
    h = activity_hessian(weights, rho).toarray()
    n = h.shape[0]
    if alpha == 0:
        return np.linalg.matrix_power(np.eye(n) - eta * h, inner_steps)
    a = constraint_matrix(weights).toarray()
    step = np.block([[np.eye(n) - eta * h, -eta * a.T], [np.zeros((n, n)), np.eye(n)]])
    dual = np.block([[np.eye(n), np.zeros((n, n))], [alpha * a, np.eye(n)]])
    return dual @ np.linalg.matrix_power(step, inner_steps)


def schedule_spectral_radius(
    weights: Sequence[Array], eta: float, alpha: float, rho: float = 1.0, inner_steps: int = 1
) -> float:
    """Spectral radius of ``schedule_map``: the asymptotic contraction factor per outer
    iteration of the schedule's distance to its fixed point (DESIGN C2). Per sample."""
    m = schedule_map(weights, eta, alpha, rho, inner_steps)
    return float(np.max(np.abs(np.linalg.eigvals(m)))) if m.size else 0.0


def largest_stable_eta(
    weights: Sequence[Array],
    alpha: float,
    rho: float = 1.0,
    inner_steps: int = 1,
    rtol: float = 1e-10,
) -> float:
    """Largest activity step ``eta`` with ``schedule_spectral_radius < 1`` for given alpha, rho, k.

    Method: from ``eta = 10^-3 / lambda_max(H)`` (stable: checked) grow eta by factors of
    1.25 until the radius reaches 1, then bisect that bracket to relative width ``rtol``;
    returns the stable end. This is the edge of the stable interval that contains small
    steps. An unstable eta always exists, because ``det M = det(I - eta H)^k`` grows without
    bound. For ``alpha = 0`` the answer is ``2 / lambda_max(H)``.
    """
    def stable(eta: float) -> bool:
        return schedule_spectral_radius(weights, eta, alpha, rho, inner_steps) < 1.0

    lo = 1e-3 / hessian_lambda_max(weights, rho)
    if not stable(lo):
        raise ValueError("no stable eta near zero for these alpha, rho, k")
    hi = 1.25 * lo
    while stable(hi):
        lo, hi = hi, 1.25 * hi
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if stable(mid) else (lo, mid)
    return lo


def schedule_radius_error_bound(
    weights: Sequence[Array], eta: float, alpha: float, rho: float = 1.0, inner_steps: int = 1
) -> tuple[float, float]:
    """``(rho(M), bound)``: the spectral radius of ``schedule_map`` and a first-order bound on
    LAPACK's error in it. A backward-stable eigensolver returns the exact eigenvalues of M + E
    with ``||E||_2 <~ n u ||M||_2`` (u the unit roundoff, n the order); a simple eigenvalue then
    moves by at most ``kappa ||E||_2``, ``kappa = 1 / |y^H x|`` its condition number (x, y its
    unit right and left eigenvectors). The bound is ``n u ||M||_2 kappa`` for the eigenvalue of
    largest modulus; a radius above 1 by less than it is not distinguishable from 1."""
    m = schedule_map(weights, eta, alpha, rho, inner_steps)
    if not m.size:
        return 0.0, 0.0
    values, left, right = eig(m, left=True, right=True)
    top = int(np.argmax(np.abs(values)))
    x, y = right[:, top], left[:, top]
    overlap = abs(np.vdot(y, x)) / (np.linalg.norm(x) * np.linalg.norm(y))
    kappa = 1.0 / overlap if overlap > 0 else np.inf
    bound = m.shape[0] * np.finfo(float).eps / 2 * np.linalg.norm(m, 2) * kappa
    return float(np.abs(values[top])), float(bound)


def largest_stable_alpha(
    weights: Sequence[Array],
    eta: float,
    rho: float = 1.0,
    inner_steps: int = 1,
    alpha_cap: float = 1e3,
    rtol: float = 1e-6,
) -> float:
    """Largest dual step ``alpha`` with ``schedule_spectral_radius < 1`` at the given eta, rho, k.

    Method: from ``alpha = 1e-3`` (checked stable; at alpha = 0 the map has the eigenvalue 1 of
    the frozen multipliers) grow alpha by factors of 1.25 until the radius reaches 1, then bisect
    that bracket to relative width ``rtol``; returns the stable end, the edge of the stable
    interval that contains small alpha. ``alpha_cap`` (inf returned) where still stable there;
    NaN where even ``alpha = 1e-3`` is unstable."""

    def stable(alpha: float) -> bool:
        return schedule_spectral_radius(weights, eta, alpha, rho, inner_steps) < 1.0

    lo = 1e-3
    if not stable(lo):
        return float("nan")
    hi = 1.25 * lo
    while stable(hi):
        if hi > alpha_cap:
            return float("inf")
        lo, hi = hi, 1.25 * hi
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if stable(mid) else (lo, mid)
    return lo
