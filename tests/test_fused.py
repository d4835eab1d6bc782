"""The fused CPU kernels (pcalm/fused.py, pcalm/csrc/fused_steps.cpp): the switch, the checks on
their inputs, and bit-for-bit reproducibility. Their numbers against the reference loop are in
tests/test_fast_path.py (every activation, schedule and depth, 1e-12 in float64)."""

from __future__ import annotations

import pytest
import torch

import pcalm
import pcalm.fast
import pcalm.fused
from pcalm.inference import infer
from tests.helpers import require_fused_kernels


def _deep_float32_case() -> tuple[pcalm.ResidualMLP, torch.Tensor, torch.Tensor]:
    model = pcalm.ResidualMLP(20, 16, 12, 4, "relu", seed=5)
    generator = torch.Generator().manual_seed(6)
    return model, torch.randn(32, 20, generator=generator), torch.randn(32, 4, generator=generator)


def test_infer_uses_the_fused_kernels_by_default_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    kernels = require_fused_kernels()
    alphas_seen: list[list[float]] = []

    class Spy:
        def run_steps(self, *args: object) -> None:
            alphas_seen.append(list(args[12]))  # the per-step dual alphas
            kernels.run_steps(*args)

    monkeypatch.setattr(pcalm.fast, "fused_kernels", lambda device: Spy())
    model, x, y = _deep_float32_case()
    infer(model, x, y, pcalm.PCALM(eta=0.1, alpha=0.3, steps=3, inner_steps=2))
    # T = 3 rounds of k = 2 steps, "pre" timing: a dual step ends each round but the last.
    assert alphas_seen == [[0.0, 0.3, 0.0, 0.3, 0.0, 0.0]]


def test_fused_path_is_reproducible_bit_for_bit() -> None:
    require_fused_kernels()
    model, x, y = _deep_float32_case()
    algo = pcalm.PCALM(eta=0.1, alpha=0.3, rho=1.5)
    first, second = (pcalm.fast.augmented_lagrangian(model, x, y, algo, "pc-alm", fused=True) for _ in range(2))
    for a, b in zip(first.weight_grads + first.z + first.lam, second.weight_grads + second.z + second.lam):
        assert torch.equal(a, b)
    assert torch.equal(first.layer_energies, second.layer_energies)


def test_pcalm_fused_0_switches_the_kernels_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCALM_FUSED", "0")
    assert pcalm.fused.kernels(torch.device("cpu")) is None
    model, x, y = _deep_float32_case()
    with pytest.raises(RuntimeError, match="fused"):
        pcalm.fast.augmented_lagrangian(model, x, y, pcalm.PCALM(eta=0.1), "pc-alm", fused=True)
    eager = infer(model, x, y, pcalm.PCALM(eta=0.1))  # the default falls back to the eager ops
    assert all(torch.isfinite(g).all() for g in eager.weight_grads)


def test_a_failed_build_leaves_the_eager_ops_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch.utils import cpp_extension

    def no_compiler(**kwargs: object) -> None:
        raise RuntimeError("Ninja is required to load C++ extensions")

    monkeypatch.setattr(cpp_extension, "load", no_compiler)
    pcalm.fused._build.cache_clear()
    try:
        with pytest.warns(UserWarning, match="Ninja is required"):
            assert pcalm.fused.kernels(torch.device("cpu")) is None
        model, x, y = _deep_float32_case()
        result = infer(model, x, y, pcalm.PCALM(eta=0.1))
        assert all(torch.isfinite(g).all() for g in result.weight_grads)
    finally:
        pcalm.fused._build.cache_clear()


def test_kernels_are_cpu_only_by_construction() -> None:
    assert pcalm.fused.kernels(torch.device("meta")) is None


def test_kernels_reject_state_they_cannot_address() -> None:
    kernels = require_fused_kernels()
    z = torch.zeros(3, 4, 5)
    with pytest.raises(RuntimeError, match="contiguous"):
        kernels.activity_step(z.transpose(1, 2), z.clone(), z.clone(), z.clone(), 1, 0.1, 0.1)
    with pytest.raises(RuntimeError, match="dtype"):
        kernels.activity_step(z, z.double(), z.clone(), z.clone(), 1, 0.1, 0.1)
    with pytest.raises(RuntimeError, match="activation"):
        kernels.activity_step(z, z.clone(), z.clone(), z.clone(), 7, 0.1, 0.1)
    with pytest.raises(RuntimeError, match="sums"):
        kernels.errors_step(torch.zeros(4, 4, 5), torch.zeros(2, 4, 5), None, z.clone(), torch.zeros(3), 0.1, 1.0, 0.0)
    with pytest.raises(RuntimeError, match="wrong size"):
        kernels.errors_step(torch.zeros(4, 4, 5), torch.zeros(2, 4, 5), None, z.clone(), torch.zeros(5, dtype=torch.float64), 0.1, 1.0, 0.0)
