"""Parity with the paper's original JAX code.

The fixtures ship with the tests, in ``tests/fixtures/jax_reference/``; its README gives their
provenance (the outputs of the original JAX code on a small fixed case) and the settings.

Tolerance: atol = rtol = 2e-5, float32 precision as the reference README states (the JAX code
ran in float32, and so do we here, like it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import pcalm
from pcalm.engine.energy import prediction_errors

TOLERANCE = dict(atol=2e-5, rtol=2e-5)
ACTIVATIONS = ("linear", "tanh", "relu")


REFERENCE_DIR = Path(__file__).resolve().parent / "fixtures" / "jax_reference"


def load(name: str) -> dict:
    """A fixture of the JAX reference, parsed (a missing file is an error, never a skip)."""
    return json.loads((REFERENCE_DIR / name).read_text())


def tensor(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def assert_layers_close(actual: list[torch.Tensor], expected: list) -> None:
    assert len(actual) == len(expected)
    for a, b in zip(actual, expected):
        torch.testing.assert_close(a.detach(), tensor(b), **TOLERANCE)


@pytest.fixture(scope="module")
def reference() -> dict:
    return load("jax_reference.json")


@pytest.fixture(scope="module")
def training_reference() -> dict:
    return load("jax_training_reference.json")


def build(reference: dict, activation: str) -> tuple[pcalm.ResidualMLP, torch.Tensor, torch.Tensor]:
    model = pcalm.ResidualMLP.from_weights([tensor(w) for w in reference["params"]], activation=activation)
    scales = [model.s_in] + [model.s_h] * (model.depth - 2) + [model.s_out]
    assert scales == pytest.approx(reference["scales"], rel=1e-12)
    return model, tensor(reference["x"]), tensor(reference["y"])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_feedforward_residuals_and_energy(reference, activation):
    case = reference["cases"][activation]
    model, x, y = build(reference, activation)
    assert_layers_close(model.feedforward(x), case["acts"])
    result = pcalm.infer(model, x, y, pcalm.PC(eta=0.1, steps=1))
    # Hidden residuals at the feedforward start, from the engine's prediction errors.
    assert_layers_close(prediction_errors(model, x, y, model.feedforward(x)[:-1])[:-1], case["residuals0"])
    assert float(result.energies[0]) == pytest.approx(case["energy0"], rel=2e-5, abs=2e-5)
    assert_layers_close(result.z, case["first_free"])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_pc_and_bp(reference, activation):
    case = reference["cases"][activation]
    model, x, y = build(reference, activation)
    pc = pcalm.infer(model, x, y, pcalm.PC(eta=0.1, steps=3))
    assert_layers_close(pc.z, case["pc_free"])
    assert_layers_close(pc.weight_grads, case["pc_grad"])
    assert_layers_close(pcalm.infer(model, x, y, pcalm.BP()).weight_grads, case["bp_grad"])


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("timing,key", [("pre", "pre_dual_energy"), ("post", "post_dual_energy")])
def test_pcalm_both_timings_two_inner_steps(reference, activation, timing, key):
    expected = reference["cases"][activation][key]
    model, x, y = build(reference, activation)
    result = pcalm.infer(model, x, y, pcalm.PCALM(eta=0.1, alpha=1.0, rho=1.0, steps=3, inner_steps=2, timing=timing))
    assert_layers_close(result.z, expected["free"])
    assert_layers_close(result.lam, expected["dual"])
    assert_layers_close(result.weight_grads, expected["grad"])


def test_one_adam_step_on_bp(reference):
    model, x, y = build(reference, "tanh")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    pcalm.train_step(model, optimizer, x, y, pcalm.BP())
    assert_layers_close(model.weights(), reference["adam_tanh_bp"])


ALGORITHMS = {
    "bp": pcalm.BP(),
    "pc": pcalm.PC(eta=0.1, steps=3),
    "pcalm": pcalm.PCALM(eta=0.1, alpha=1.0, rho=1.0, steps=3, inner_steps=1, timing="pre"),
}


@pytest.mark.parametrize("method", sorted(ALGORITHMS))
def test_three_adam_training_steps(reference, training_reference, method):
    model, x, y = build(reference, "tanh")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = training_reference["methods"][method]
    assert len(steps) == len(training_reference["batch_indices"]) == 3
    for rows, expected in zip(training_reference["batch_indices"], steps):
        optimizer.zero_grad()
        result = pcalm.train_step(model, optimizer, x[rows], y[rows], ALGORITHMS[method])
        assert_layers_close(result.weight_grads, expected["grads"])
        assert_layers_close(model.weights(), expected["params"])
