"""Continuous-time primal-dual flow of PC and PC-ALM in linear nets (DESIGN C2).

Per sample, ``dz/dt = -dL_rho/dz`` and ``dlam/dt = +dL_rho/dlam = eps`` (PC-ALM), or
``dz/dt = -dF/dz`` with ``lam = 0`` (PC). The right-hand side is the saddle residual built
from the local rules; for a linear net it is affine with Jacobian ``[[-H, -A^T], [A, 0]]``
(PC: ``-H``), the same for every sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp

from numerics.equilibrium import METHODS
from numerics.kkt import join_state, saddle_residual, split_state
from numerics.energy import feedforward
from numerics.layout import hidden_sizes
from numerics.linear import activity_hessian, constraint_matrix
from numerics.serialise import JSONResult

Array = np.ndarray


@dataclass
class FlowResult(JSONResult):
    """State of the flow at ``t_final``; ``success`` and ``message`` come from ``solve_ivp``."""

    z: list[Array]
    lam: list[Array]
    t_final: float
    success: bool
    message: str


def flow_jacobian(weights: Sequence[Array], rho: float = 1.0, method: str = "pc-alm") -> Array:
    """Per-sample Jacobian of the flow: ``[[-H, -A^T], [A, 0]]`` for PC-ALM, ``-H`` for PC
    (DESIGN C2). Dense, of size 2n (PC: n)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    h = activity_hessian(weights, rho)
    if method == "pc":
        return -h.toarray()
    a = constraint_matrix(weights)
    return sp.block_array([[-h, -a.T], [a, None]]).toarray()


def flow_eigenvalues(weights: Sequence[Array], rho: float = 1.0, method: str = "pc-alm") -> Array:
    """Eigenvalues of ``flow_jacobian`` (DESIGN C2: all have negative real part for rho > 0)."""
    return np.linalg.eigvals(flow_jacobian(weights, rho, method))


def integrate_flow(
    weights: Sequence[Array],
    x: Array,
    y: Array,
    t_final: float,
    method: str = "pc-alm",
    rho: float = 1.0,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> FlowResult:
    """Integrate the flow from the canonical start (feedforward z, ``lam = 0``) to ``t_final``
    with ``solve_ivp`` (implicit Radau, exact Jacobian, because H can be stiff)."""
    batch = x.shape[0]
    n = sum(hidden_sizes(weights))
    z0 = feedforward(weights, x)[:-1]
    sign = np.concatenate([-np.ones(n), np.ones(n)])
    keep = slice(0, n) if method == "pc" else slice(0, 2 * n)

    def full(s: Array) -> Array:
        """Flat integrator state -> (B, 2n) state; PC keeps lam at 0."""
        s = s.reshape(batch, keep.stop)
        return s if method != "pc" else np.concatenate([s, np.zeros_like(s)], axis=1)

    def rhs(_t: float, s: Array) -> Array:
        return (sign * saddle_residual(weights, x, y, full(s), rho))[:, keep].ravel()

    jac = sp.kron(sp.identity(batch), sp.csr_matrix(flow_jacobian(weights, rho, method)), format="csc")
    start = join_state(z0, [np.zeros_like(zl) for zl in z0], batch)[:, keep]
    sol = solve_ivp(rhs, (0.0, t_final), start.ravel(), method="Radau", jac=jac, rtol=rtol, atol=atol)
    z, lam = split_state(weights, full(sol.y[:, -1]))
    return FlowResult(z=z, lam=lam, t_final=float(sol.t[-1]), success=bool(sol.success), message=sol.message)
