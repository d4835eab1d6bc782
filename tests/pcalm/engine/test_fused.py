"""The fused CPU kernels (pcalm/engine/stacked/fused.py, pcalm/engine/stacked/fused_steps.cpp): the switch, the
checks on their inputs, the schedule they run and the work they count, bit-for-bit
reproducibility and independence of the sweep length, and the split of the batch among threads. Their numbers against the reference loop are in tests/pcalm/engine/test_fast_path.py
(every activation, schedule and depth, 1e-12 in float64)."""

from __future__ import annotations

import pytest
import torch

import pcalm
import pcalm.engine.stacked.fused
import pcalm.engine.stacked.run
from pcalm.engine.inference import infer
from pcalm.engine.schedule import resolve
from tests.helpers import require_fused_kernels


def _deep_float32_case() -> tuple[pcalm.ResidualMLP, torch.Tensor, torch.Tensor]:
    model = pcalm.ResidualMLP(20, 16, 12, 4, "relu", seed=5)
    generator = torch.Generator().manual_seed(6)
    return model, torch.randn(32, 20, generator=generator), torch.randn(32, 4, generator=generator)


def test_infer_uses_the_fused_kernels_by_default_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    kernels = require_fused_kernels()
    alphas_seen: list[list[float]] = []

    class Spy:
        Options = kernels.Options

        def run_steps(self, tensors: dict[str, torch.Tensor], options: object) -> dict[str, int]:
            alphas_seen.append(list(options.alphas))  # the per-step dual alphas
            return kernels.run_steps(tensors, options)

    monkeypatch.setattr(pcalm.engine.stacked.run, "fused_kernels", lambda device: Spy())
    model, x, y = _deep_float32_case()
    result = infer(model, x, y, pcalm.PCALM(eta=0.1, alpha=0.3, steps=3, inner_steps=2))
    # T = 3 rounds of k = 2 steps, "pre" timing: a dual step ends each round but the last.
    assert alphas_seen == [[0.0, 0.3, 0.0, 0.3, 0.0, 0.0]]
    # The kernel's own count: step s runs on the top min(s, 11) of the 11 hidden layers (the
    # wavefront), and steps 2 and 4 end with a dual update on the layers they ran on.
    assert result.work == {"layer_steps": 1 + 2 + 3 + 4 + 5 + 6, "dual_updates": 2 + 4}


def test_fused_path_is_reproducible_bit_for_bit() -> None:
    require_fused_kernels()
    model, x, y = _deep_float32_case()
    algo = pcalm.PCALM(eta=0.1, alpha=0.3, rho=1.5)
    first, second = (pcalm.engine.stacked.augmented_lagrangian(model, x, y, resolve(algo, model, x, y), fused=True) for _ in range(2))
    for a, b in zip(first.weight_grads + first.z + first.lam, second.weight_grads + second.z + second.lam):
        assert torch.equal(a, b)
    assert torch.equal(first.layer_energies, second.layer_energies)


def test_pcalm_fused_0_switches_the_kernels_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PCALM_FUSED", "0")
    assert pcalm.engine.stacked.fused.kernels(torch.device("cpu")) is None
    model, x, y = _deep_float32_case()
    with pytest.raises(RuntimeError, match="fused"):
        pcalm.engine.stacked.augmented_lagrangian(model, x, y, resolve(pcalm.PCALM(eta=0.1), model, x, y), fused=True)
    eager = infer(model, x, y, pcalm.PCALM(eta=0.1))  # the default falls back to the eager ops
    assert all(torch.isfinite(g).all() for g in eager.weight_grads)


def test_a_failed_build_leaves_the_eager_ops_with_a_warning(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from torch.utils import cpp_extension

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))  # an empty cache: the build is tried
    def no_compiler(**kwargs: object) -> None:
        raise RuntimeError("Ninja is required to load C++ extensions")

    monkeypatch.setattr(cpp_extension, "load", no_compiler)
    pcalm.engine.stacked.fused._build.cache_clear()
    try:
        with pytest.warns(UserWarning, match="Ninja is required"):
            assert pcalm.engine.stacked.fused.kernels(torch.device("cpu")) is None
        model, x, y = _deep_float32_case()
        result = infer(model, x, y, pcalm.PCALM(eta=0.1))
        assert all(torch.isfinite(g).all() for g in result.weight_grads)
    finally:
        pcalm.engine.stacked.fused._build.cache_clear()


def test_kernels_are_cpu_only_by_construction() -> None:
    assert pcalm.engine.stacked.fused.kernels(torch.device("meta")) is None


OPTIONS = ("alphas", "first_layers", "skew", "activation", "s_in", "s_h", "s_out", "eta", "rho")


def _run_steps_arguments(**changes: object) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """Valid tensors and options of run_steps for a depth-4 relu PC-ALM run (3 hidden layers,
    B = 2, N = 5), with ``changes`` applied (None removes a tensor)."""
    hidden, batch, width = 3, 2, 5
    state = lambda: torch.zeros(hidden, batch, width)  # noqa: E731
    arguments: dict[str, object] = dict(
        x=torch.zeros(batch, 6), w_in=torch.zeros(width, 6), w_hidden=torch.zeros(hidden - 1, width, width),
        w_hidden_t=torch.zeros(hidden - 1, width, width), w_out=torch.zeros(4, width), y=torch.zeros(batch, 4),
        p=torch.zeros(hidden + 1, batch, width), a=state(), e=state(), lam=state(), eps_out=torch.zeros(batch, 4),
        hidden_sums=torch.zeros(3, hidden, 1, 2, dtype=torch.float64), out_sums=torch.zeros(3), alphas=[1.0, 0.0], first_layers=[0, 0],
        skew=4, activation=pcalm.engine.stacked.fused.ACTIVATIONS["relu"], s_in=0.4, s_h=0.2, s_out=0.2, eta=0.1, rho=1.0,
    )
    arguments.update(changes)
    tensors = {name: value for name, value in arguments.items() if name not in OPTIONS and value is not None}
    return tensors, {name: arguments[name] for name in OPTIONS}


def _run_steps(kernels: object, **changes: object) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    tensors, options = _run_steps_arguments(**changes)
    return tensors, kernels.run_steps(tensors, kernels.Options(**options))


def test_kernels_run_on_valid_arguments() -> None:
    kernels = require_fused_kernels()
    tensors, work = _run_steps(kernels, y=torch.ones(2, 4))
    assert float(tensors["out_sums"][0]) == 8.0  # e_out = y - 0 at the start: 2 x 4 ones
    # Two steps of the 3 hidden layers, the first followed by a dual step (alphas [1, 0]).
    assert work == {"layer_steps": 6, "dual_updates": 3}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"e": torch.zeros(3, 5, 2).transpose(1, 2)}, "contiguous"),
        ({"a": torch.zeros(3, 2, 5, dtype=torch.float64)}, "dtype"),
        ({"activation": 7}, "activation"),
        ({"hidden_sums": torch.zeros(3, 3, 1, 2)}, "float64"),
        ({"hidden_sums": torch.zeros(2, 3, 1, 2, dtype=torch.float64)}, "wrong size"),
        ({"out_sums": torch.zeros(2)}, "wrong size"),
        ({"lam": torch.zeros(2, 2, 5)}, "lam"),
        ({"w_hidden_t": torch.zeros(2, 5, 4)}, "w_hidden_t"),
        ({"x": torch.zeros(3, 6)}, "x and w_in"),
        ({"skew": 0}, "skew"),
        ({"w_in": None}, "missing tensor w_in"),
        ({"first_layers": [0]}, "one entry per step"),
        ({"first_layers": [0, 3]}, "first_layers must lie"),
        ({"w_ln": torch.zeros(5, 6)}, "unknown tensor w_ln"),
    ],
)
def test_kernels_reject_arguments_they_cannot_address(changes: dict[str, object], message: str) -> None:
    kernels = require_fused_kernels()
    with pytest.raises(RuntimeError, match=message):
        _run_steps(kernels, **changes)


def _outputs(result: pcalm.InferenceResult) -> list[torch.Tensor]:
    return [*result.weight_grads, *result.z, *result.lam, result.layer_energies]


def test_results_do_not_depend_on_the_sweep_length() -> None:
    # Each layer-step sees the same inputs whatever the diagonal sweep's length, so the results
    # are equal bit for bit; a sweep that broke the order of the layer-steps would change them.
    require_fused_kernels()
    model, x, y = _deep_float32_case()
    algo = pcalm.PCALM(eta=0.1, alpha=0.3, rho=1.5, steps=9)
    runs = []
    for skew in (1, 3, pcalm.engine.stacked.SKEW, 50):
        runs.append(_outputs(pcalm.engine.stacked.augmented_lagrangian(model, x, y, resolve(algo, model, x, y), fused=True, skew=skew)))
    for other in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(runs[0], other))


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize(("batch", "width"), [(1, 5), (7, 5), (9, 41)])
def test_any_split_of_the_rows_among_threads_gives_the_reference(threads: int, batch: int, width: int) -> None:
    # The batch's rows are split among the threads (fewer rows than threads included); only the
    # order of the per-thread sums changes, so the float64 results stay within test_fast_path's 1e-12.
    # Width 41, batch 9: a thread's layer holds 123 to 369 elements, so the pass runs several
    # blocks of kBlock lines of 8 doubles, a partial block and a tail of single elements.
    require_fused_kernels()
    model = pcalm.ResidualMLP(7, width, 5, 3, "tanh", seed=3, dtype=torch.float64)
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(batch, 7, generator=generator, dtype=torch.float64)
    y = torch.randn(batch, 3, generator=generator, dtype=torch.float64)
    algo = pcalm.PCALM(eta=0.15, alpha=0.5, rho=2.0, steps=6)
    reference = infer(model, x, y, algo, fast=False)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        fused = pcalm.engine.stacked.augmented_lagrangian(model, x, y, resolve(algo, model, x, y), fused=True)
    finally:
        torch.set_num_threads(before)
    for a, b in zip(_outputs(fused), [*reference.weight_grads, *reference.z, *reference.lam, reference.layer_energies]):
        assert float((a - b).abs().max()) <= 1e-12 * max(float(b.abs().max()), 1.0)


def test_a_torch_without_mkl_leaves_the_eager_ops_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mkl, "is_available", lambda: False)
    pcalm.engine.stacked.fused._build.cache_clear()
    try:
        with pytest.warns(UserWarning, match="no MKL"):
            assert pcalm.engine.stacked.fused.kernels(torch.device("cpu")) is None
    finally:
        pcalm.engine.stacked.fused._build.cache_clear()
