"""Test helpers: the device under test, random float64 models and batches, an independent
autograd L_rho, and the fused kernels or a reason why not."""

from __future__ import annotations

import os
from types import ModuleType

import pytest
import torch

import pcalm
import pcalm.engine.stacked.fused

Tensor = torch.Tensor
ACTIVATIONS = ("linear", "tanh", "relu")
# The device the device-aware tests run on (tests/conftest.py): PCALM_TEST_DEVICE, default cpu.
TEST_DEVICE = torch.device(os.environ.get("PCALM_TEST_DEVICE", "cpu"))


def random_model(kind: str, activation: str, seed: int) -> pcalm.LayeredModel:
    """A small float64 model: a plain MLP with biases and non-square widths, or a residual MLP."""
    if kind == "plain":
        return pcalm.MLP([3, 5, 4, 6, 2], activation=activation, bias=True, seed=seed, dtype=torch.float64)
    return pcalm.ResidualMLP(3, 5, 5, 2, activation=activation, seed=seed, dtype=torch.float64)


def random_batch(model: pcalm.LayeredModel, batch: int, seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, model.widths[0], generator=generator, dtype=torch.float64)
    y = torch.randn(batch, model.widths[-1], generator=generator, dtype=torch.float64)
    return x, y


def augmented_lagrangian(model: pcalm.LayeredModel, x: Tensor, y: Tensor, z: list[Tensor], lam: list[Tensor], rho: float) -> Tensor:
    """L_rho of DESIGN section 3, written out from the model's forward predictions only."""
    batch = x.shape[0]
    below = [x, *z]
    total = 0.5 * ((y - model.predict(model.depth, below[-1])) ** 2).sum()
    for l, (z_l, lam_l) in enumerate(zip(z, lam), start=1):
        eps_l = z_l - model.predict(l, below[l - 1])
        total = total + (lam_l * eps_l).sum() + 0.5 * rho * (eps_l * eps_l).sum()
    return total / batch


def relative_error(a: list[Tensor], b: list[Tensor]) -> float:
    """max over layers of ||a_l - b_l|| / ||b_l||."""
    return max(float((p - q).detach().norm() / q.detach().norm()) for p, q in zip(a, b))


def require_fused_kernels() -> ModuleType:
    """The fused CPU kernels (pcalm.engine.stacked.fused); a test needing them skips where they cannot be built
    (no C++ compiler or ninja), except in CI (CI=true), where their absence fails the test."""
    kernels = pcalm.engine.stacked.fused.kernels(torch.device("cpu"))
    if kernels is None:
        reason = "the fused CPU kernels are unavailable here (PCALM_FUSED=0, or no compiler/ninja: see the warning)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason)
        pytest.skip(reason)
    return kernels
