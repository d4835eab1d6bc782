"""C9: PC-ALM's equilibrium gradient is BP's on linear conv stacks (Hypothesis, float64), and the check's verdicts."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import numerics
import pcalm
from paper_checks import c9_conv
from paper_checks.conv_nets import layer_matrices, pull_back, random_linear_stack
from paper_checks.verdict import CheckContext

RADIUS_CAP = 0.9  # rho(M)^T <= 1e-12 within 263 steps: a bounded run
EXACT = 1e-9  # float64, distance to the fixed point below 1e-12 of its start; conditioning of these small stacks far below 1e3


def relative(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    x, y = torch.cat([t.reshape(-1) for t in a]), torch.cat([t.reshape(-1) for t in b])
    return float((x - y).norm() / y.norm())


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), depth=st.integers(2, 5))
def test_pcalm_to_convergence_gives_bp_gradients_on_linear_conv_stacks(seed, depth):
    model, shape, n_out = random_linear_stack(seed, depth)
    n_in = math.prod(shape)
    matrices = layer_matrices(model, (n_in,))
    eta = 1.0 / numerics.hessian_lambda_max(matrices, 1.0)
    radius = numerics.schedule_spectral_radius(matrices, eta, 1.0, 1.0)
    assume(radius <= RADIUS_CAP)
    steps = max(1, math.ceil(math.log(1e-12) / math.log(radius)))
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.randn(3, n_in, generator=generator, dtype=torch.float64), torch.randn(3, n_out, generator=generator, dtype=torch.float64)
    bp = pcalm.infer(model, x, y, pcalm.BP()).flat_grads()
    alm = pcalm.infer(model, x, y, pcalm.PCALM(eta=eta, steps=steps)).flat_grads()
    assert relative(alm, bp) < EXACT
    kkt = numerics.linear_equilibrium(matrices, x.numpy(), y.numpy(), method="pc-alm").weight_grads
    assert relative([g for layer in pull_back(model, (n_in,), kkt) for g in layer], bp) < EXACT
    pc_radius = numerics.schedule_spectral_radius(matrices, eta, 0.0, 1.0)
    pc = pcalm.infer(model, x, y, pcalm.PC(eta=eta, steps=max(1, math.ceil(math.log(1e-12) / math.log(pc_radius))) if pc_radius < 1 else steps)).flat_grads()
    assert relative(pc, bp) > 1e-3  # PC's equilibrium is not BP's: a gap far above roundoff


def test_the_stacks_hold_every_kind_of_child():
    """The drawn stacks do hold strided and padded convs, pooling inside a child, residual children and both read-outs."""
    seen = set()
    for seed in range(40):
        model, _, _ = random_linear_stack(seed, 5)
        for child, residual in zip(model.layers, model.residual):
            for m in child.modules():
                if isinstance(m, torch.nn.Conv2d):
                    seen |= {"stride" if m.stride[0] > 1 else "", "padding" if m.padding[0] > 0 else ""}
                seen.add(type(m).__name__)
            seen |= {"residual"} if residual else set()
    assert {"stride", "padding", "AvgPool2d", "Flatten", "Linear", "Conv2d", "residual"} <= seen


def _without_grids(monkeypatch):
    monkeypatch.setattr(c9_conv, "grids", lambda ctx: [])
    monkeypatch.setattr(c9_conv, "NETS_PER_DEPTH", {"quick": 1, "full": 1})
    monkeypatch.setattr(c9_conv, "PC_SEEDS", {"quick": 4, "full": 4})


def test_part_a_holds_for_pcalm_and_its_figure_has_a_caption(tmp_path, monkeypatch):
    from paper_checks.report import caption

    _without_grids(monkeypatch)
    verdict = c9_conv.check(CheckContext(out=tmp_path))
    assert verdict.verdict == "holds", [(c.name, c.measured) for c in verdict.criteria]
    assert [c.state for c in verdict.criteria] == ["holds"] * 4
    assert verdict.figures and all(caption(f) for f in verdict.figures)
    assert caption("c9_heatmap_digits.png").startswith("Residual CNN")


def test_fails_when_the_tested_method_is_pc(tmp_path, monkeypatch):
    _without_grids(monkeypatch)
    verdict = c9_conv.check(CheckContext(out=tmp_path, method="pc"))
    assert verdict.verdict == "fails"
    assert [c.state for c in verdict.criteria[:2]] == ["fails", "fails"]


@pytest.mark.full
def test_the_quick_check_holds_and_fails_under_pc_on_the_command_line(tmp_path):
    import subprocess
    import sys

    holds = subprocess.run([sys.executable, "-m", "pcalm.commands.cli", "check", "--only", "C9", "--out", str(tmp_path / "alm")], capture_output=True, text=True)
    assert holds.returncode == 0, holds.stdout + holds.stderr
    fails = subprocess.run([sys.executable, "-m", "pcalm.commands.cli", "check", "--algo", "pc", "--only", "C9", "--out", str(tmp_path / "pc")], capture_output=True, text=True)
    assert fails.returncode == 1, fails.stdout + fails.stderr
