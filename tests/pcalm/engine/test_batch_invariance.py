"""Batch invariance of inference: rows never interact, so a sample's gradient contribution does
not depend on the other rows of its batch.

For the reference loop (pcalm.engine.inference) and both ways of the fast path (pcalm.engine.stacked: the eager
ops and the fused CPU kernels): infer on a batch of B rows equals infer on each row alone, the
activities and multipliers row by row and the batch-mean weight gradients, bias gradients and
energies as 1/B times the sum of the rows' (each row alone has B = 1). eta is given: eta = "auto"
takes the largest per-sample eigenvalue over the batch and so does couple the rows, by design.

Tolerance: float64, 1e-12 relative to the quantity's size. The batch and the single rows differ
only in the order of floating-point operations (a B-row matmul vs B one-row matmuls, sums over
rows, per-thread partial sums in the fused run), a few ulps per step over at most 12 steps;
coupling rows (a batch mean where a per-row value belongs) or a wrong 1/B is off at order 1.
"""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pcalm
from pcalm.engine.inference import infer
from pcalm.engine.schedule import resolve
from tests.helpers import ACTIVATIONS, require_fused_kernels

Tensor = torch.Tensor
TOLERANCE = 1e-12
SCHEDULES = (
    pcalm.PC(eta=0.2, steps=5),
    pcalm.PCALM(eta=0.2, steps=4),
    pcalm.PCALM(eta=0.15, alpha=0.5, rho=2.0, steps=3, inner_steps=3, timing="post"),
)
WAYS = ("reference", "eager", "fused")


def _run(way: str, model: pcalm.LayeredModel, x: Tensor, y: Tensor, algo: pcalm.PCALM) -> pcalm.InferenceResult:
    if way == "reference":
        return infer(model, x, y, algo, fast=False)
    return pcalm.engine.stacked.augmented_lagrangian(model, x, y, resolve(algo, model, x, y), fused=way == "fused")


def _close(name: str, got: Tensor, want: Tensor) -> None:
    scale = max(float(want.abs().max()), 1.0)
    assert float((got - want).abs().max()) <= TOLERANCE * scale, f"{name} differs by {float((got - want).abs().max()):.3e}"


def _assert_batch_invariant(way: str, model: pcalm.LayeredModel, x: Tensor, y: Tensor, algo: pcalm.PCALM) -> None:
    batch = x.shape[0]
    whole = _run(way, model, x, y, algo)
    rows = [_run(way, model, x[b : b + 1], y[b : b + 1], algo) for b in range(batch)]
    for l, (z_l, lam_l) in enumerate(zip(whole.z, whole.lam), start=1):
        _close(f"z_{l}", z_l, torch.cat([r.z[l - 1] for r in rows]))
        _close(f"lam_{l}", lam_l, torch.cat([r.lam[l - 1] for r in rows]))
    for l, g in enumerate(whole.weight_grads, start=1):
        _close(f"dW_{l}", g, sum(r.weight_grads[l - 1] for r in rows) / batch)
    for l, g in enumerate(whole.bias_grads, start=1):
        if g is not None:
            _close(f"db_{l}", g, sum(r.bias_grads[l - 1] for r in rows) / batch)
    _close("layer_energies", whole.layer_energies, sum(r.layer_energies for r in rows) / batch)


def _batch(model: pcalm.LayeredModel, batch: int, seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, model.widths[0], generator=generator, dtype=torch.float64)
    y = torch.randn(batch, model.widths[-1], generator=generator, dtype=torch.float64)
    return x, y


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    way=st.sampled_from(WAYS),
    activation=st.sampled_from(ACTIVATIONS),
    algo=st.sampled_from(SCHEDULES),
    depth=st.integers(2, 5),
    batch=st.integers(2, 6),
    seed=st.integers(0, 2**16),
)
def test_a_rows_result_does_not_depend_on_the_other_rows(way: str, activation: str, algo: pcalm.PCALM, depth: int, batch: int, seed: int) -> None:
    if way == "fused":
        require_fused_kernels()
    model = pcalm.ResidualMLP(4, 5, depth, 3, activation, seed=seed, dtype=torch.float64)
    _assert_batch_invariant(way, model, *_batch(model, batch, seed + 1), algo)


@settings(max_examples=10, deadline=None)
@given(activation=st.sampled_from(ACTIVATIONS), algo=st.sampled_from(SCHEDULES), batch=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_the_reference_loop_is_batch_invariant_on_a_plain_mlp_with_biases(activation: str, algo: pcalm.PCALM, batch: int, seed: int) -> None:
    model = pcalm.MLP([3, 5, 4, 2], activation=activation, bias=True, seed=seed, dtype=torch.float64)
    _assert_batch_invariant("reference", model, *_batch(model, batch, seed + 1), algo)


def test_the_check_catches_rows_that_interact() -> None:
    """A control that must fail: the gradient of the batch's first row alone, scaled as if it
    were the batch, is not the batch's gradient (the property is not vacuous)."""
    model = pcalm.ResidualMLP(4, 5, 4, 3, "tanh", seed=1, dtype=torch.float64)
    x, y = _batch(model, 3, 2)
    whole = infer(model, x, y, SCHEDULES[1], fast=False)
    first = infer(model, x[:1], y[:1], SCHEDULES[1], fast=False)
    assert float((whole.weight_grads[1] - first.weight_grads[1]).abs().max()) > 1e-3 * float(whole.weight_grads[1].abs().max())
