"""The stacked BP (pcalm.engine.stacked.bp) against autograd BP (``BP(fast=False)``).

Both compute the same sums in float64 in another order (the stacked state, in-place ops, the
fused kernels' per-thread rows), so gradients, activities, signals and loss agree to a few ulps
per layer: over at most 12 layers of O(1) values that stays below 1e-12 relative to each
quantity's size (measured: <= 1e-15), while a wrong sign, scale, activation slope or layer
index changes it at order 1e-3 or more (``test_the_comparison_detects_...``). Five Adam steps on
those gradients keep the weights within 1e-12 too: Adam's update is a smooth function of the
gradient away from g = 0 (its eps = 1e-8 bounds the division), so rounding-sized differences in
the gradient stay rounding-sized in the weights at lr 1e-3.
"""

from __future__ import annotations

import pytest
import torch

import pcalm
import pcalm.engine.stacked.bp
from pcalm.engine.inference import NonFiniteActivityError, infer
from tests.helpers import ACTIVATIONS, TEST_DEVICE, require_fused_kernels

Tensor = torch.Tensor
TOLERANCE = 1e-12
# (ways, torch threads): the eager ops, and the fused kernels on 1 and 3 threads (rows split among them).
WAYS = {"eager": (False, None), "fused 1 thread": (True, 1), "fused 3 threads": (True, 3)} if TEST_DEVICE.type == "cpu" else {"eager": (False, None)}


def _case(activation: str, depth: int, width: int, batch: int = 7, seed: int = 0) -> tuple[pcalm.ResidualMLP, Tensor, Tensor]:
    model = pcalm.ResidualMLP(6, width, depth, 3, activation, seed=seed, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed + 1)
    return model, torch.randn(batch, 6, generator=generator, dtype=torch.float64), torch.randn(batch, 3, generator=generator, dtype=torch.float64)


def _stacked(way: str, model: pcalm.ResidualMLP, x: Tensor, y: Tensor) -> pcalm.InferenceResult:
    fused, threads = WAYS[way]
    if fused:
        require_fused_kernels()
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        return pcalm.engine.stacked.bp.backprop(model, x, y, fused=fused)
    finally:
        torch.set_num_threads(before)


def _outputs(result: pcalm.InferenceResult) -> list[Tensor]:
    return [*result.weight_grads, *result.z, *result.lam, result.energies, result.layer_energies]


def _largest_difference(a: list[Tensor], b: list[Tensor]) -> float:
    """max over tensors of max |a - b| / max(max |b|, 1)."""
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert p.shape == q.shape and p.dtype == q.dtype
    return max(float((p - q).abs().max()) / max(float(q.abs().max()), 1.0) for p, q in zip(a, b))


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("depth,width", [(2, 5), (3, 5), (6, 5), (12, 5), (6, 17), (4, 41)])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_stacked_bp_equals_autograd_bp(activation: str, depth: int, width: int, way: str) -> None:
    model, x, y = _case(activation, depth, width)
    reference = infer(model, x, y, pcalm.BP(fast=False))
    stacked = _stacked(way, model, x, y)
    assert reference.way == "autograd" and stacked.way == ("fused" if WAYS[way][0] else "eager")
    assert _largest_difference(_outputs(stacked), _outputs(reference)) <= TOLERANCE
    assert stacked.bias_grads == reference.bias_grads == [None] * depth
    assert stacked.eta is None and stacked.work == {}


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_five_adam_steps_on_stacked_bp_give_autograds_weights(activation: str, way: str) -> None:
    fused, threads = WAYS[way]
    if fused:
        require_fused_kernels()
    weights = []
    for algo in (pcalm.BP(fast=False), pcalm.BP(fast=True)):
        model, x, y = _case(activation, 8, 9, batch=10)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        before = torch.get_num_threads()
        torch.set_num_threads(threads or before)
        try:
            for step in range(5):
                rows = slice(2 * step, 2 * step + 6)  # a different mini-batch at each step
                result = infer(model, x[rows], y[rows], algo) if algo.fast is False else pcalm.engine.stacked.bp.backprop(model, x[rows], y[rows], fused=fused)
                pcalm.apply_grads(model, result)
                optimizer.step()
        finally:
            torch.set_num_threads(before)
        weights.append([w.detach().clone() for w in model.weights()])
    autograd, stacked = weights
    assert _largest_difference(stacked, autograd) <= TOLERANCE
    assert _largest_difference(autograd, [w.detach() for w in _case(activation, 8, 9)[0].weights()]) > 1e-4  # the steps moved them


def test_infer_runs_a_residual_mlps_bp_on_the_stacked_path_and_autograd_when_asked() -> None:
    model, x, y = _case("tanh", 5, 6)
    assert infer(model, x, y, pcalm.BP()).way in {"fused", "eager"}
    assert infer(model, x, y, pcalm.BP(fast=True)).way in {"fused", "eager"}
    assert infer(model, x, y, pcalm.BP(fast=False)).way == "autograd"
    assert infer(model, x, y, pcalm.BP(), fast=False).way == "autograd"
    plain = pcalm.MLP([3, 4, 2], activation="tanh", seed=0, dtype=torch.float64)
    xp, yp = torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)
    assert infer(plain, xp, yp, pcalm.BP()).way == "autograd"
    with pytest.raises(ValueError, match="fast"):
        infer(plain, xp, yp, pcalm.BP(fast=True))
    with pytest.raises(ValueError, match="fast"):
        pcalm.BP(fast="yes")


@pytest.mark.parametrize("way", WAYS)
def test_the_comparison_detects_a_wrong_slope(way: str) -> None:
    """The 1e-12 check has teeth: relu's gradients against autograd's of the same weights under tanh."""
    model, x, y = _case("relu", 6, 5)
    other = pcalm.ResidualMLP.from_weights([w.detach() for w in model.weights()], activation="tanh")
    stacked, reference = _stacked(way, model, x, y), infer(other, x, y, pcalm.BP(fast=False))
    assert _largest_difference(stacked.weight_grads, reference.weight_grads) > 1e-3


@pytest.mark.parametrize("way", WAYS)
def test_a_non_finite_loss_raises_autograds_error(way: str) -> None:
    model, x, y = _case("linear", 4, 5)
    x = x * 1e300
    with pytest.raises(NonFiniteActivityError) as reference:
        infer(model, x, y, pcalm.BP(fast=False))
    with pytest.raises(NonFiniteActivityError) as stacked:
        _stacked(way, model, x, y)
    assert str(stacked.value).split("(")[0] == str(reference.value).split("(")[0]
    assert "bp: the loss is not finite" in str(stacked.value)


def test_stacked_bp_keeps_float32() -> None:
    model = pcalm.ResidualMLP(6, 8, 5, 2, "relu", seed=3)
    x, y = torch.randn(5, 6), torch.randn(5, 2)
    stacked, reference = infer(model, x, y, pcalm.BP()), infer(model, x, y, pcalm.BP(fast=False))
    assert all(g.dtype == torch.float32 for g in stacked.weight_grads)
    # float32: a few ulps (1.2e-7 relative) per layer over 5 layers.
    assert _largest_difference(stacked.weight_grads, reference.weight_grads) <= 1e-5


@pytest.mark.parametrize(
    ("change", "message"),
    [("w_in", "x and w_in"), ("w_hidden", "w_hidden"), ("y", "w_out, y, eps_out"), ("extra", "expected the tensors")],
)
def test_backprop_kernel_rejects_arguments_it_cannot_address(change: str, message: str) -> None:
    kernels = require_fused_kernels()
    hidden, batch, width = 3, 2, 5
    tensors = {
        "x": torch.zeros(batch, 6), "y": torch.zeros(batch, 4), "w_in": torch.zeros(width, 6), "w_hidden": torch.zeros(hidden - 1, width, width),
        "w_out": torch.zeros(4, width), "p": torch.zeros(hidden + 1, batch, width), "a": torch.zeros(hidden, batch, width),
        "e": torch.zeros(hidden, batch, width), "eps_out": torch.zeros(batch, 4),
    }
    tensors.update({"w_in": {"w_in": torch.zeros(width, 7)}, "w_hidden": {"w_hidden": torch.zeros(hidden, width, width)},
                    "y": {"y": torch.zeros(batch, 3)}, "extra": {"lam": torch.zeros(hidden, batch, width)}}[change])
    with pytest.raises(RuntimeError, match=message):
        kernels.backprop_steps(tensors, 1, 0.4, 0.2, 0.2)
