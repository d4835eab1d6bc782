"""Input validation: bad configs and inputs raise ValueError naming the problem, and
a run whose activities become non-finite stops with an error naming the step and layer (the
first one whose energy term overflows: that happens a little before the activities themselves
overflow, so the run stops earlier still)."""

import math

import pytest
import torch

import pcalm


@pytest.mark.parametrize(
    "build,field",
    [
        (lambda: pcalm.PCALM(eta=-0.1), "eta"),
        (lambda: pcalm.PCALM(eta=math.inf), "eta"),
        (lambda: pcalm.PCALM(eta=math.nan), "eta"),
        (lambda: pcalm.PCALM(eta=0.0), "eta"),
        (lambda: pcalm.PCALM(eta="fast"), "eta"),
        (lambda: pcalm.PCALM(eta=0.1, alpha=-1.0), "alpha"),
        (lambda: pcalm.PCALM(eta=0.1, alpha=math.nan), "alpha"),
        (lambda: pcalm.PCALM(eta=0.1, rho=0.0), "rho"),
        (lambda: pcalm.PCALM(eta=0.1, rho=-2.0), "rho"),
        (lambda: pcalm.PCALM(eta=0.1, steps=0), "steps"),
        (lambda: pcalm.PCALM(eta=0.1, steps=2.5), "steps"),
        (lambda: pcalm.PCALM(eta=0.1, inner_steps=0), "inner_steps"),
        (lambda: pcalm.PCALM(eta=0.1, timing="middle"), "timing"),
        (lambda: pcalm.PC(eta=-1.0), "eta"),
        (lambda: pcalm.PC(eta=0.1, steps=0), "steps"),
        (lambda: pcalm.MLP([3]), "widths"),
        (lambda: pcalm.MLP([3, 4], activation="sigmoid"), "activation"),
        (lambda: pcalm.ResidualMLP(3, 4, 1, 2), "depth"),
    ],
)
def test_bad_configs_name_the_field(build, field):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        build()


def test_good_configs_are_accepted():
    assert pcalm.PCALM(eta="auto", alpha=0.0, steps=None).budget(depth=5) == 10
    assert pcalm.PCALM(eta=0.1, steps=3).budget(depth=5) == 3
    assert pcalm.PC(eta=0.1).as_pcalm().alpha == 0.0


@pytest.fixture
def model():
    return pcalm.MLP([3, 4, 2], activation="tanh")


@pytest.mark.parametrize(
    "x,y,problem",
    [
        (torch.zeros(5, 4), torch.zeros(5, 2), r"^x: expected shape \(batch, 3\)"),
        (torch.zeros(5, 3), torch.zeros(5, 3), r"^y: expected shape \(batch, 2\)"),
        (torch.zeros(5), torch.zeros(5, 2), r"^x: expected shape"),
        (torch.zeros(5, 3), torch.zeros(4, 2), r"^x, y: batch sizes differ"),
        (torch.zeros(0, 3), torch.zeros(0, 2), r"^x: the batch is empty"),
        (torch.zeros(5, 3, dtype=torch.float64), torch.zeros(5, 2), r"^x: dtype torch.float64"),
        (torch.zeros(5, 3), torch.zeros(5, 2, dtype=torch.float64), r"^y: dtype torch.float64"),
        ([[0.0] * 3] * 5, torch.zeros(5, 2), r"^x: expected a torch.Tensor"),
        (torch.zeros(5, 3, device="meta"), torch.zeros(5, 2), r"^x: device meta"),
        (torch.full((5, 3), float("nan")), torch.zeros(5, 2), r"^x: contains NaN or infinite values"),
        (torch.zeros(5, 3), torch.full((5, 2), float("inf")), r"^y: contains NaN or infinite values"),
    ],
)
@pytest.mark.parametrize("algo", [pcalm.BP(), pcalm.PC(eta=0.1), pcalm.PCALM(eta=0.1)])
def test_mismatched_inputs_raise_before_any_work(model, x, y, problem, algo):
    with pytest.raises(ValueError, match=problem):
        pcalm.infer(model, x, y, algo)


def test_non_finite_activities_stop_with_step_and_layer():
    model = pcalm.MLP([3, 4, 4, 4, 2], activation="linear", seed=0, dtype=torch.float64)
    x = torch.ones(2, 3, dtype=torch.float64)
    y = torch.ones(2, 2, dtype=torch.float64)
    first_bad = []  # (step, layer) of the first non-finite per-layer energy term, computed here

    def watch(step, z, lam, e):
        rho = 1.0
        eps = [(e_l - lam_l) / rho for e_l, lam_l in zip(e, lam)] + [e[-1]]
        terms = [(lam_l * eps_l).sum() + rho / 2 * (eps_l**2).sum() for lam_l, eps_l in zip(lam, eps)] + [(eps[-1] ** 2).sum()]
        bad = [l for l, term in enumerate(terms, start=1) if not bool(torch.isfinite(term))]
        if bad and not first_bad:
            first_bad.append((step, bad[0]))

    with pytest.raises(pcalm.NonFiniteActivityError, match=r"^pc-alm: diverged at activity step") as error:
        pcalm.infer(model, x, y, pcalm.PCALM(eta=10.0, steps=2000), observer=watch)
    step, layer = first_bad[0]
    assert f"at activity step {step}: the energy of layer {layer} is no longer finite" in str(error.value)
    with pytest.raises(pcalm.NonFiniteActivityError, match=r"^pc: diverged at activity step"):
        pcalm.infer(model, x, y, pcalm.PC(eta=10.0, steps=2000))
    # The same net with a stable step size runs to the end with finite gradients.
    result = pcalm.infer(model, x, y, pcalm.PCALM(eta=0.1, steps=2000))
    assert all(bool(torch.isfinite(g).all()) for g in result.weight_grads)
