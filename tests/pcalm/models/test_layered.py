"""pcalm.Layered: any stack of torch modules under the engine's three per-layer operations (C9)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import pcalm
from pcalm.engine.metrics import gradient_cosine
from tests.helpers import augmented_lagrangian

TOLERANCE = 1e-12  # float64: the same sums in another order


def relative(got: list[torch.Tensor], want: list[torch.Tensor]) -> float:
    """||got - want|| / ||want|| over all layers concatenated (a layer credit has barely reached,
    e.g. PC's first layer after 7 steps at 1e-5 of the rest, would judge roundoff alone)."""
    a, b = torch.cat([g.detach().reshape(-1) for g in got]), torch.cat([w.detach().reshape(-1) for w in want])
    return float((a - b).norm() / b.norm())


def residual_mlp_as_layered(model: pcalm.ResidualMLP) -> pcalm.Layered:
    """ResidualMLP's mu_l written as torch modules with a copy of its weights (bias-free Linear + Scale)."""
    act = {"linear": nn.Identity, "tanh": nn.Tanh, "relu": nn.ReLU}[model.activation.name]
    children = []
    for l, w in enumerate(model.weights(), start=1):
        linear = nn.Linear(w.shape[1], w.shape[0], bias=False).double()
        with torch.no_grad():
            linear.weight.copy_(w)
        if l == 1:
            children.append(nn.Sequential(linear, pcalm.Scale(model.s_in)))
        else:
            children.append(nn.Sequential(act(), linear, pcalm.Scale(model.s_out if l == model.depth else model.s_h)))
    return pcalm.Layered(children, residual=[False] + [True] * (model.depth - 2) + [False])


@pytest.mark.parametrize("activation", ["linear", "tanh", "relu"])
@pytest.mark.parametrize("algo", [pcalm.BP(), pcalm.PC(eta=0.1, steps=7), pcalm.PCALM(eta=0.1, steps=9), pcalm.PCALM(eta="auto", inner_steps=2, timing="post")])
def test_a_layered_residual_mlp_gives_residual_mlp_gradients(activation, algo):
    reference = pcalm.ResidualMLP(5, 6, 6, 3, activation=activation, seed=4, dtype=torch.float64)
    layered = residual_mlp_as_layered(reference)
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(7, 5, generator=generator, dtype=torch.float64), torch.randn(7, 3, generator=generator, dtype=torch.float64)
    want, got = pcalm.infer(reference, x, y, algo, fast=False), pcalm.infer(layered, x, y, algo)
    fast = pcalm.infer(reference, x, y, algo)
    for expected in (want, fast):
        assert relative(got.weight_grads, expected.weight_grads) < TOLERANCE
        assert relative(got.z, expected.z) < TOLERANCE
    assert got.bias_grads == [None] * reference.depth


def conv_net(residual: bool = True) -> pcalm.Layered:
    torch.manual_seed(3)
    children = [
        nn.Sequential(nn.Unflatten(1, (1, 6, 6)), nn.Conv2d(1, 3, 3, padding=1)),
        nn.Sequential(nn.Tanh(), nn.Conv2d(3, 3, 3, padding=1)),
        nn.Sequential(nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(3, 2, 2, stride=1, padding=1)),
        nn.Sequential(nn.Tanh(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)),
    ]
    return pcalm.Layered([c.double() for c in children], residual=[False, residual, False, False], input_shape=(36,))


def conv_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(5, 36, generator=generator, dtype=torch.float64), torch.randn(5, 3, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("algo", [pcalm.PC(eta=0.1, steps=6), pcalm.PCALM(eta=0.1, steps=6), pcalm.PCALM(eta=0.05, rho=0.5, alpha=0.5, steps=5, timing="post")])
def test_nonlinear_conv_parameter_gradients_are_the_energy_gradient(algo):
    """The local rule is dL_rho/dtheta at the final (z, lam) (under "post", the result's lam is
    already lam + alpha eps(z))."""
    model, (x, y) = conv_net(), conv_batch()
    result = pcalm.infer(model, x, y, algo)
    config = algo.as_pcalm()
    lam = result.lam
    params = list(model.parameters())
    with torch.enable_grad():
        auto = torch.autograd.grad(augmented_lagrangian(model, x, y, result.z, lam, config.rho), params)
    expected = model.split_parameter_grads(list(auto))
    assert [len(layer) for layer in result.param_grads] == [2, 2, 2, 2]
    assert relative(result.flat_grads(), [g for layer in expected for g in layer]) < TOLERANCE


def test_the_activity_step_is_the_energy_gradient():
    """z_l <- z_l - eta B dL_rho/dz_l, the residual layer included (vjp = e + e J_f)."""
    from pcalm.engine.energy import activity_step, effective_errors, prediction_errors

    model, (x, y) = conv_net(), conv_batch()
    z = [a + 0.1 * torch.randn_like(a) for a in model.feedforward(x)[:-1]]
    lam = [0.3 * torch.randn_like(a) for a in z]
    stepped = activity_step(model, z, effective_errors(prediction_errors(model, x, y, z), lam, 0.7), 0.1)
    leaves = [a.clone().requires_grad_(True) for a in z]
    grads = torch.autograd.grad(augmented_lagrangian(model, x, y, leaves, lam, 0.7), leaves)
    assert relative(stepped, [a - 0.1 * x.shape[0] * g for a, g in zip(z, grads)]) < TOLERANCE


def test_train_step_fills_grad_for_any_optimizer_and_observers_and_auto_eta_work():
    model, (x, y) = conv_net(), conv_batch()
    seen = []
    result = pcalm.infer(model, x, y, pcalm.PCALM(eta="auto", steps=3), observer=lambda step, z, lam, e: seen.append((step, [tuple(a.shape) for a in z])))
    assert [s for s, _ in seen] == [0, 1, 2, 3]
    assert seen[0][1] == [(5, 3, 6, 6), (5, 3, 6, 6), (5, 2, 4, 4)]
    assert 0 < result.eta < 10
    for optimizer in (torch.optim.SGD(model.parameters(), lr=0.1), torch.optim.Adam(model.parameters(), lr=0.01)):
        before = [p.detach().clone() for p in model.parameters()]
        step = pcalm.train_step(model, optimizer, x, y, pcalm.PCALM(eta=0.1, steps=4))
        for p, g, b in zip(model.parameters(), step.flat_grads(), before):
            assert torch.equal(p.grad, g)
            assert not torch.equal(p.detach(), b)


def test_conv_scalings_keep_the_feedforward_activities_order_one():
    """s_in, s_h = 1/sqrt(9 C L): the rms of z_{L-1} stays within a factor 3 of z_1's from L = 4 to 64
    (without s_h's 1/sqrt(L) it grows like sqrt(L), 4x over that range)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 64, generator=generator)
    ratios = {}
    for depth in (4, 16, 64):
        model = pcalm.ResidualCNN((1, 8, 8), 16, depth, 10, "relu", seed=depth)
        z = model.feedforward(x)
        first, last = float(z[0].pow(2).mean().sqrt()), float(z[-2].pow(2).mean().sqrt())
        ratios[depth] = last / first
        assert 0.3 < first < 3.0
        assert float(z[-1].abs().max()) < 1.0  # s_out = 1/(C H W): the read-out starts small
    assert all(1 / 3 < r < 3 for r in ratios.values()), ratios
    assert (model.s_in, model.s_h, model.s_out) == (1 / 3, 1 / math.sqrt(9 * 16 * 64), 1 / (16 * 64))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: pcalm.Layered([nn.Linear(4, 5), nn.Linear(6, 2)], input_shape=(4,)), r"^layer 2 \(Linear\): its input, the output of layer 1 of per-sample shape \(5,\), does not fit"),
        (lambda: pcalm.Layered([nn.Linear(4, 5), nn.Linear(5, 2)], residual=True, input_shape=(4,)), r"^layer 1: residual needs the child's output shape \(5,\) to equal its input's \(4,\)"),
        (lambda: pcalm.Layered([nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2)]), r"^layer 2: BatchNorm1d in training mode normalises with the batch's statistics"),
        (lambda: pcalm.Layered([nn.Linear(4, 5), nn.Sequential(nn.Dropout(0.5), nn.Linear(5, 2))]), r"^layer 2: Dropout in training mode makes the prediction random"),
        (lambda: pcalm.Layered([nn.ReLU(), nn.Tanh()]), r"^modules: no layer has parameters"),
        (lambda: pcalm.Layered([nn.Linear(4, 5), 3]), r"^layer 2: expected a torch.nn.Module"),
        (lambda: pcalm.Layered([nn.Linear(4, 4), nn.Linear(4, 2)], residual=[True]), r"^residual: need one flag per layer"),
        (lambda: pcalm.Layered([nn.Linear(4, 5), nn.Softmax(dim=0), nn.Linear(5, 2)], input_shape=(4,)), r"^layer 2 \(Softmax\): mixes the samples of a batch"),
    ],
)
def test_bad_stacks_are_refused_naming_the_layer(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_shared_parameters_are_refused():
    shared = nn.Linear(4, 4)
    with pytest.raises(ValueError, match=r"^layer 2: shares a parameter with layer 1"):
        pcalm.Layered([shared, nn.Sequential(nn.Tanh(), shared)])


def test_bad_batches_are_refused_naming_the_layer_or_the_target():
    model = pcalm.Layered([nn.Linear(4, 5), nn.Linear(5, 2)])
    with pytest.raises(ValueError, match=r"^y: expected shape \(batch, 2\), the output of layer 2, got \(3, 3\)"):
        pcalm.infer(model, torch.zeros(3, 4), torch.zeros(3, 3), pcalm.BP())
    with pytest.raises(ValueError, match=r"^layer 1 \(Linear\): its input, the input x of per-sample shape \(7,\), does not fit"):
        pcalm.infer(model, torch.zeros(3, 7), torch.zeros(3, 2), pcalm.PC(eta=0.1))
    norm = nn.BatchNorm1d(5).eval()
    later = pcalm.Layered([nn.Linear(4, 5), norm, nn.Linear(5, 2)])
    pcalm.infer(later, torch.randn(3, 4), torch.randn(3, 2), pcalm.PC(eta=0.1))  # running statistics: per sample
    norm.train()
    with pytest.raises(ValueError, match=r"^layer 2: BatchNorm1d in training mode"):
        pcalm.infer(later, torch.randn(3, 4), torch.randn(3, 2), pcalm.PC(eta=0.1))


def test_a_parameter_free_child_is_a_layer_with_nothing_to_train():
    model = pcalm.Layered([nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)]).double()
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 4, generator=generator, dtype=torch.float64), torch.randn(3, 2, generator=generator, dtype=torch.float64)
    result = pcalm.infer(model, x, y, pcalm.PCALM(eta=0.1, steps=200))
    assert [len(layer) for layer in result.param_grads] == [2, 0, 2]
    assert len(result.z) == 2
    with pytest.raises(ValueError, match=r"^weight_grads: layer 2 has 0 parameters"):
        result.weight_grads
    bp = pcalm.infer(model, x, y, pcalm.BP())
    cosine = gradient_cosine(result.flat_grads(), bp.flat_grads())
    assert cosine > 0.99  # 200 steps of the schedule on a small tanh net: close to the saddle, whose gradient is near BP's


def test_the_command_line_refuses_a_conv_model_on_non_image_data_in_one_line(tmp_path):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "pcalm.commands.cli", "train", "--model", "conv", "--dataset", "mnist1d", "--width", "2", "--depth", "2", "--out", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["pcalm train: model: the conv model needs an image data set (digits, mnist, fmnist, mnist5k), got dataset 'mnist1d'"]
