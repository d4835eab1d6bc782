"""The fast path (pcalm.engine.stacked) against the reference loop (pcalm.engine.inference._augmented_lagrangian).

Both run the same schedule in float64: the reference loop on the CPU, the fast path on the
device under test (``PCALM_TEST_DEVICE``, tests/conftest.py) with its eager ops and, on the CPU,
with its fused kernels (pcalm/engine/stacked/fused_steps.cpp). They differ only in the order of floating-point
operations (stacked vs per-layer, in-place vs fresh tensors, energies as batched sums), so each
quantity agrees to a few ulps per step. Over at most 15 activity steps on O(1) values that stays
below 1e-12 relative to the quantity's size (measured: <= 2e-15), while a wrong index, sign,
scale or schedule changes it at order 1e-3 or more.
"""

from __future__ import annotations

import pytest
import torch

import pcalm
import pcalm.engine.stacked.run
from pcalm.engine.inference import NonFiniteActivityError, infer
from pcalm.engine.energy import prediction_errors
from pcalm.engine.schedule import resolve
from tests.helpers import TEST_DEVICE, require_fused_kernels

Tensor = torch.Tensor
TOLERANCE = 1e-12

SCHEDULES = (
    pcalm.PC(eta=0.2, steps=6),
    pcalm.PCALM(eta=0.2, steps=6),
    pcalm.PCALM(eta=0.15, alpha=0.5, rho=2.0, steps=5, inner_steps=3, timing="post"),
    pcalm.PCALM(eta=0.15, alpha=0.7, rho=1.5, steps=4, inner_steps=2, timing="pre"),
    pcalm.PCALM(eta=0.1, alpha=0.0, rho=2.0, steps=4),
)


def _model_and_batch(activation: str, depth: int, seed: int = 0) -> tuple[pcalm.ResidualMLP, Tensor, Tensor]:
    model = pcalm.ResidualMLP(7, 5, depth, 3, activation, seed=seed, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(4, 7, generator=generator, dtype=torch.float64)
    y = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    return model, x, y


def _assert_close(name: str, fast: list[Tensor], reference: list[Tensor]) -> None:
    assert len(fast) == len(reference), name
    for l, (a, b) in enumerate(zip(fast, reference), start=1):
        assert a.shape == b.shape and a.dtype == b.dtype, f"{name}[{l}]"
        scale = max(float(b.abs().max()), 1.0)
        assert float((a - b).abs().max()) <= TOLERANCE * scale, f"{name}[{l}] differs by {float((a - b).abs().max()):.3e}"


@pytest.mark.parametrize("activation", ["linear", "tanh", "relu"])
@pytest.mark.parametrize("depth", [2, 3, 6])
@pytest.mark.parametrize("algo", SCHEDULES, ids=lambda a: repr(a))
@pytest.mark.parametrize("fused", [False, True] if TEST_DEVICE.type == "cpu" else [False], ids=lambda fused: "fused" if fused else "eager")
def test_fast_path_equals_reference_loop(activation: str, depth: int, algo: pcalm.PCALM, fused: bool, device: torch.device) -> None:
    if fused:
        require_fused_kernels()
    model, x, y = _model_and_batch(activation, depth)
    reference = infer(model, x, y, algo, fast=False)
    schedule = resolve(algo, model, x, y)
    fast = pcalm.engine.stacked.augmented_lagrangian(model.to(device), x.to(device), y.to(device), schedule, fused=fused)
    on_cpu = lambda tensors: [t.cpu() for t in tensors]  # noqa: E731
    _assert_close("weight_grads", on_cpu(fast.weight_grads), reference.weight_grads)
    _assert_close("z", on_cpu(fast.z), reference.z)
    _assert_close("lam", on_cpu(fast.lam), reference.lam)
    _assert_close("energies", on_cpu([fast.energies, fast.layer_energies]), [reference.energies, reference.layer_energies])
    assert fast.bias_grads == reference.bias_grads == [None] * depth
    assert fast.eta == reference.eta


def test_the_eager_loop_keeps_every_tensor_on_the_batchs_device() -> None:
    # On the meta device (shapes, no data) every op runs until the one host synchronisation, the
    # check for non-finite energies after the loop; a tensor made on the CPU on the way (a
    # buffer, a constant) would stop the run earlier with a device mismatch instead.
    model, x, y = _model_and_batch("tanh", 4)
    with pytest.raises(RuntimeError, match=r"item\(\) cannot be called on meta tensors") as stop:
        schedule = resolve(pcalm.PCALM(eta=0.2, inner_steps=2), model, x, y)
        pcalm.engine.stacked.augmented_lagrangian(model.to("meta"), x.to("meta"), y.to("meta"), schedule)
    assert any(frame.name == "raise_if_not_finite" for frame in stop.traceback)


def test_infer_takes_the_fast_path_by_default_and_the_reference_loop_with_an_observer(monkeypatch: pytest.MonkeyPatch) -> None:
    model, x, y = _model_and_batch("relu", 4)
    calls = []
    original = pcalm.engine.stacked.augmented_lagrangian
    monkeypatch.setattr(pcalm.engine.stacked, "augmented_lagrangian", lambda *args: calls.append(1) or original(*args))
    infer(model, x, y, pcalm.PCALM(eta=0.2))
    assert calls == [1]
    seen: list[int] = []
    infer(model, x, y, pcalm.PCALM(eta=0.2, steps=2), observer=lambda step, z, lam, e: seen.append(step))
    assert calls == [1] and seen == [0, 1, 2]


def test_fast_path_refuses_models_and_observers_it_does_not_run() -> None:
    plain = pcalm.MLP([3, 4, 2], activation="tanh", seed=0, dtype=torch.float64)
    x, y = torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="fast"):
        infer(plain, x, y, pcalm.PC(eta=0.1), fast=True)
    model, x, y = _model_and_batch("relu", 3)
    with pytest.raises(ValueError, match="observer"):
        infer(model, x, y, pcalm.PC(eta=0.1), observer=lambda *args: None, fast=True)


@pytest.mark.parametrize("algo", [pcalm.PC(eta=1e6, steps=80), pcalm.PCALM(eta=1e6, steps=40, inner_steps=2)], ids=["pc", "pc-alm"])
def test_fast_path_raises_the_same_non_finite_error(algo: pcalm.PCALM) -> None:
    model, x, y = _model_and_batch("linear", 5)
    with pytest.raises(NonFiniteActivityError) as reference:
        infer(model, x, y, algo, fast=False)
    with pytest.raises(NonFiniteActivityError) as fast:
        infer(model, x, y, algo, fast=True)
    assert str(fast.value) == str(reference.value)
    assert "step" in str(fast.value) and "layer" in str(fast.value)


FLOAT32_ULP = torch.finfo(torch.float32).eps  # u = 2^-23


def _relative_error(fast: list[Tensor], reference: list[Tensor]) -> float:
    """max over layers of max|a - b| / max|b|."""
    return max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(fast, reference))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("fused", [False, True], ids=["eager", "fused"])
def test_fast_path_keeps_the_dtype_and_runs_float32(seed: int, fused: bool) -> None:
    # The two ways run the same operations in another order, so in float32 they part by
    # roundings: at most about one ulp u = 2^-23 of a quantity per activity step, T u over the
    # T = 2L = 10 steps, for z and the energies (measured over 60 seeds: <= 3.2 u). lam and the
    # weight gradients are made of eps = z - mu, a difference of terms kappa = max|z| / max|eps|
    # times larger than itself: an ulp of z is kappa ulps of eps, so their bound is T u kappa,
    # with kappa from the float64 run (35-520 over 60 seeds; measured error <= 0.67 u kappa).
    if fused:
        require_fused_kernels()
    model = pcalm.ResidualMLP(6, 8, 5, 2, "relu", seed=seed)
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.randn(5, 6, generator=generator), torch.randn(5, 2, generator=generator)
    algo = pcalm.PCALM(eta=0.2)
    fast = pcalm.engine.stacked.augmented_lagrangian(model, x, y, resolve(algo, model, x, y), fused=fused)
    reference = infer(model, x, y, algo, fast=False)
    assert all(t.dtype == torch.float32 for t in (*fast.weight_grads, *fast.z, *fast.lam, fast.energies, fast.layer_energies))
    exact = pcalm.ResidualMLP(6, 8, 5, 2, "relu", seed=seed, dtype=torch.float64)
    z64 = infer(exact, x.double(), y.double(), algo, fast=False).z
    with torch.no_grad():
        eps64 = prediction_errors(exact, x.double(), y.double(), z64)[:-1]
    kappa = max(float(z.abs().max() / e.abs().max()) for z, e in zip(z64, eps64))
    steps = 2 * model.depth
    bounds = {"z": steps * FLOAT32_ULP, "energies": steps * FLOAT32_ULP, "lam": steps * FLOAT32_ULP * kappa, "weight_grads": steps * FLOAT32_ULP * kappa}
    errors = {
        "z": _relative_error(fast.z, reference.z),
        "energies": _relative_error([fast.energies, fast.layer_energies], [reference.energies, reference.layer_energies]),
        "lam": _relative_error(fast.lam, reference.lam),
        "weight_grads": _relative_error(fast.weight_grads, reference.weight_grads),
    }
    for name, error in errors.items():
        assert error <= bounds[name], f"{name}: {error / FLOAT32_ULP:.1f} u, bound {bounds[name] / FLOAT32_ULP:.1f} u (kappa {kappa:.0f})"


def test_the_comparison_detects_a_schedule_one_step_short() -> None:
    """The 1e-12 check has teeth: one activity step fewer changes the gradients far beyond it."""
    model, x, y = _model_and_batch("tanh", 5)
    reference = infer(model, x, y, pcalm.PCALM(eta=0.2, steps=6), fast=False)
    short = infer(model, x, y, pcalm.PCALM(eta=0.2, steps=5), fast=True)
    with pytest.raises(AssertionError):
        _assert_close("weight_grads", short.weight_grads, reference.weight_grads)
