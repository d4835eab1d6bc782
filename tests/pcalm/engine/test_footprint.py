"""The memory estimates (pcalm.models.footprint, pcalm.engine.footprint) against what torch
really allocates, and the refusals built on them (pcalm.runtime.memory)."""

from __future__ import annotations

import pytest
import torch

import pcalm
from pcalm.data import load_dataset
from pcalm.experiments.bench import peak_memory_mib
from pcalm.experiments.run_memory import check_run_fits, run_footprint
from pcalm.experiments.training import TrainConfig, train
from pcalm.models.footprint import parameter_count
from pcalm.runtime import memory
from pcalm.runtime.errors import ModelTooLargeError


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_parameter_estimate_is_the_bytes_torch_allocates(dtype):
    models = [pcalm.ResidualMLP(7, 12, 6, 3, dtype=dtype), pcalm.MLP([5, 9, 4, 2], bias=True, dtype=dtype), pcalm.MLP([5, 9, 4, 2], dtype=dtype)]
    for model, bias in zip(models, (False, True, False)):
        allocated = sum(p.nbytes for p in model.parameters())
        assert parameter_count(model.widths, bias) * torch.finfo(dtype).bits // 8 == allocated


# The estimate counts the tensors live at a run's peak, class by class (pcalm.engine.footprint).
# What it leaves out are single-layer temporaries and allocator rounding, a few percent here; a
# missing or doubled class moves the ratio by far more (Adam's two moments alone are 2/7 of the
# parameter side, the fast path's eight activity buffers 1/8 each), so measured / estimate must
# lie in [0.75, 1.35]. The measured peak is the torch profiler's running sum of allocations
# (pcalm.experiments.bench.peak_memory_mib); eta is given, as eta="auto"'s Lanczos vectors are
# NumPy's and the profiler does not see them.
@pytest.mark.parametrize(
    "settings",
    [
        dict(algo="pc-alm", width=256, depth=10),  # parameter-dominated
        dict(algo="pc-alm", width=16, depth=66),  # activity-dominated
        dict(algo="bp", width=256, depth=10),
    ],
)
def test_the_training_estimate_matches_torchs_peak_allocation(settings, one_thread):
    data = load_dataset("digits", None, False, 0)
    config = TrainConfig(epochs=1, batch_size=len(data.x_train) // 2, steps=4, eta=0.2, **settings)
    estimate = run_footprint(config, data.input_dim, data.num_classes, max(len(data.x_train), len(data.x_test)))
    measured = peak_memory_mib(lambda: train(config, None, progress=False, data=data), torch.device("cpu")) * 2**20
    assert 0.75 <= measured / estimate.total <= 1.35, (measured / 2**20, estimate)


def test_available_memory_is_read_from_proc_meminfo(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24684528 kB\nMemFree:         1000 kB\nMemAvailable:   23876543 kB\n")
    monkeypatch.setattr(memory, "MEMINFO", str(meminfo))
    assert memory.available_bytes() == 23876543 * 1024
    monkeypatch.setattr(memory, "MEMINFO", str(tmp_path / "absent"))
    assert memory.available_bytes() == memory.os.sysconf("SC_AVPHYS_PAGES") * memory.os.sysconf("SC_PAGE_SIZE")


def test_a_model_too_large_is_refused_before_allocating_with_both_figures():
    for build in (lambda: pcalm.ResidualMLP(64, 100_000, 100_000, 10), lambda: pcalm.MLP([10**6] * 3)):
        with pytest.raises(ModelTooLargeError) as raised:
            build()
        message = str(raised.value)
        assert isinstance(raised.value, ValueError) and isinstance(raised.value, MemoryError)
        assert "\n" not in message and "needs about" in message and "of memory is available" in message
    assert "pcalm.ResidualMLP width=100000, depth=100000 (float32) needs about 10.7 PiB" in str(pytest.raises(MemoryError, pcalm.ResidualMLP, 64, 100_000, 100_000, 10).value)


def test_a_run_is_refused_at_its_estimate(monkeypatch):
    config = TrainConfig(algo="pc-alm", width=32, depth=8)
    needed = run_footprint(config, 64, 10, 1437).total
    check_run_fits(config, 64, 10, 1437, available=needed)  # fits exactly
    with pytest.raises(ModelTooLargeError, match=r"^pc-alm N=32 L=8, batch 64 \(float32\) needs about .* of memory is available on this machine$"):
        check_run_fits(config, 64, 10, 1437, available=needed - 1)
