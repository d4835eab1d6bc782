"""The paper's activity step-size rule: eta = 1 / lambda_max (DESIGN section 3).

lambda_max is the largest eigenvalue of the per-sample Hessian of L_rho in the hidden
activities, at the feedforward start (lam = 0). The Hessian of the summed (not averaged)
objective is block-diagonal over samples, so power iteration on it finds the largest
per-sample eigenvalue over the batch. Hessian-vector products come from forward-over-reverse
autodiff (torch.func, which differentiates even under ``torch.no_grad()``), so nothing of size (n, n) is formed: this runs on deep, wide nets.
"""

from __future__ import annotations

import dataclasses

import torch
from torch.func import grad, jvp

from pcalm.algorithms import PCALM
from pcalm.models.base import LayeredModel

Tensor = torch.Tensor


def _summed_objective(model: LayeredModel, x: Tensor, y: Tensor, rho: float):
    """z -> sum over samples of 1/2 ||eps_L||^2 + rho/2 sum_l ||eps_l||^2 (L_rho at lam = 0, times B)."""

    def objective(z: tuple[Tensor, ...]) -> Tensor:
        below = (x, *z)
        total = 0.5 * ((y - model.predict(model.depth, below[-1])) ** 2).sum()
        for l, z_l in enumerate(z, start=1):
            total = total + 0.5 * rho * ((z_l - model.predict(l, below[l - 1])) ** 2).sum()
        return total

    return objective


@torch.no_grad()
def activity_lambda_max(
    model: LayeredModel, x: Tensor, y: Tensor, rho: float = 1.0, iterations: int = 200, rtol: float = 1e-6, seed: int = 0
) -> float:
    """Largest eigenvalue of the per-sample activity Hessian of L_rho at the feedforward start,
    by power iteration on Hessian-vector products; stops when the Rayleigh quotient changes by
    less than ``rtol`` relative."""
    if model.depth < 2:
        raise ValueError("model: a depth-1 model has no hidden activities, so no activity Hessian")
    gradient = grad(_summed_objective(model, x, y, rho))
    z0 = tuple(model.feedforward(x)[:-1])
    generator = torch.Generator().manual_seed(seed)
    v = tuple(torch.randn(a.shape, generator=generator, dtype=a.dtype).to(a.device) for a in z0)
    estimate = 0.0
    for _ in range(iterations):
        norm = torch.sqrt(sum((u * u).sum() for u in v))
        v = tuple(u / norm for u in v)
        _, hv = jvp(gradient, (z0,), (v,))
        new_estimate = float(sum((u * h).sum() for u, h in zip(v, hv)))
        if abs(new_estimate - estimate) <= rtol * abs(new_estimate):
            return new_estimate
        estimate, v = new_estimate, hv
    return estimate


def resolve_eta(algo: PCALM, model: LayeredModel, x: Tensor, y: Tensor) -> PCALM:
    """Return ``algo`` with eta = 1/lambda_max(model, x, y, rho) when it asks for ``"auto"``."""
    if algo.eta != "auto":
        return algo
    return dataclasses.replace(algo, eta=1.0 / activity_lambda_max(model, x, y, algo.rho))
