"""The wavefront of the fast path (pcalm.engine.stacked.run.wavefront): both ways skip, at activity step
s, the hidden layers below the top s, and give the dense run's numbers.

From the feedforward start the skipped layers hold their feedforward z with e = lam = 0 exactly,
where the dense run recomputes eps = z - mu(z_below) there, 0 up to the rounding of the
feedforward pass; so skipping and dense agree to rounding: 1e-12 relative in float64 over at
most 27 steps on O(1) values (the argument of tests/pcalm/engine/test_fast_path.py). A wave one layer too
narrow leaves out a layer that credit has reached and is off at order 1e-3 or more.
"""

from __future__ import annotations

import pytest
import torch

import pcalm
import pcalm.engine.stacked.run
from pcalm.engine.schedule import resolve
from tests.helpers import ACTIVATIONS, require_fused_kernels

Tensor = torch.Tensor
TOLERANCE = 1e-12
DEPTH = 6  # H = 5 hidden layers
SCHEDULES = {
    "pc": lambda steps: pcalm.PC(eta=0.2, steps=steps),
    "pc-alm pre k=1": lambda steps: pcalm.PCALM(eta=0.2, steps=steps),
    "pc-alm pre k=2": lambda steps: pcalm.PCALM(eta=0.15, alpha=0.7, rho=1.5, steps=steps, inner_steps=2),
    "pc-alm post k=3": lambda steps: pcalm.PCALM(eta=0.15, alpha=0.5, rho=2.0, steps=steps, inner_steps=3, timing="post"),
}
# T below, at and above L (and so T k below, near and above the H = 5 steps the wave needs to reach layer 1).
BUDGETS = {"T<L": 3, "T=L": DEPTH, "T>L": 9}
WAYS = {"eager": (False, None), "fused 1 thread": (True, 1), "fused 3 threads": (True, 3)}


def _case(activation: str, seed: int = 0) -> tuple[pcalm.ResidualMLP, Tensor, Tensor]:
    model = pcalm.ResidualMLP(7, 5, DEPTH, 3, activation, seed=seed, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed + 1)
    return model, torch.randn(6, 7, generator=generator, dtype=torch.float64), torch.randn(6, 3, generator=generator, dtype=torch.float64)


def _run(way: str, model: pcalm.ResidualMLP, x: Tensor, y: Tensor, algo, dense: bool) -> pcalm.InferenceResult:
    fused, threads = WAYS[way]
    if fused:
        require_fused_kernels()
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        return pcalm.engine.stacked.augmented_lagrangian(model, x, y, resolve(algo, model, x, y), fused=fused, dense=dense)
    finally:
        torch.set_num_threads(before)


def _outputs(result: pcalm.InferenceResult) -> list[Tensor]:
    return [*result.weight_grads, *result.z, *result.lam, result.layer_energies]


def _largest_difference(a: pcalm.InferenceResult, b: pcalm.InferenceResult) -> float:
    """max over outputs of |a - b| / max(|b|, 1)."""
    return max(float((p - q).abs().max()) / max(float(q.abs().max()), 1.0) for p, q in zip(_outputs(a), _outputs(b)))


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_skipping_gives_the_dense_runs_numbers(activation: str, schedule: str, budget: str, way: str) -> None:
    model, x, y = _case(activation)
    algo = SCHEDULES[schedule](BUDGETS[budget])
    skipping, dense = _run(way, model, x, y, algo, dense=False), _run(way, model, x, y, algo, dense=True)
    assert _largest_difference(skipping, dense) <= TOLERANCE
    hidden, steps = DEPTH - 1, BUDGETS[budget] * algo.as_pcalm().inner_steps
    # Counted by the run as it ran: step s on the top min(s, H) hidden layers, H at every step when dense.
    assert skipping.work["layer_steps"] == sum(min(s, hidden) for s in range(1, steps + 1))
    assert dense.work["layer_steps"] == steps * hidden


@pytest.mark.parametrize("way", WAYS)
def test_a_wave_one_layer_too_narrow_is_caught(way: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model, x, y = _case("tanh")
    algo = SCHEDULES["pc-alm pre k=1"](BUDGETS["T>L"])
    dense = _run(way, model, x, y, algo, dense=True)
    real = pcalm.engine.stacked.run.wavefront
    monkeypatch.setattr(pcalm.engine.stacked.run, "wavefront", lambda hidden, steps, dense=False: [min(first + 1, hidden - 1) for first in real(hidden, steps, dense)])
    narrow = _run(way, model, x, y, algo, dense=False)
    assert _largest_difference(narrow, dense) > 1e-6


def test_the_wavefront_reaches_one_layer_per_step() -> None:
    assert pcalm.engine.stacked.run.wavefront(4, 6) == [3, 2, 1, 0, 0, 0]
    assert pcalm.engine.stacked.run.wavefront(4, 6, dense=True) == [0] * 6
