"""The closed-form local updates of pcalm.engine.energy equal autograd of L_rho.

Tolerance 1e-12 relative: both sides are float64 evaluations of the same expression in a
different order, so they agree to a few ulps times the depth (about 1e-15), far below 1e-12.
"""

import pytest
import torch

from pcalm.engine.energy import activity_step, effective_errors, prediction_errors, weight_gradients
from tests.helpers import ACTIVATIONS, augmented_lagrangian, random_batch, random_model, relative_error

TOLERANCE = 1e-12


def random_state(model, x, seed):
    """Activities away from the feedforward pass and non-zero multipliers."""
    generator = torch.Generator().manual_seed(seed)
    z = [torch.randn(x.shape[0], n, generator=generator, dtype=torch.float64) for n in model.widths[1:-1]]
    lam = [torch.randn_like(z_l) for z_l in z]
    return z, lam


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", ["plain", "residual"])
@pytest.mark.parametrize("rho", [1.0, 0.3])
def test_activity_and_weight_updates_equal_autograd(kind, activation, rho):
    model = random_model(kind, activation, seed=1)
    x, y = random_batch(model, batch=4, seed=2)
    z, lam = random_state(model, x, seed=3)
    batch, eta = x.shape[0], 0.1

    eps = prediction_errors(model, x, y, z)
    e = effective_errors(eps, lam, rho)
    stepped = activity_step(model, z, e, eta)
    grads = weight_gradients(model, x, z, e)

    z_leaf = [z_l.clone().requires_grad_(True) for z_l in z]
    objective = augmented_lagrangian(model, x, y, z_leaf, lam, rho)
    params = list(model.parameters())
    auto = torch.autograd.grad(objective, z_leaf + params)
    # Per-sample activity step: each sample moves by eta times its own gradient = B * d(batch mean)/dz.
    expected_step = [z_l - eta * batch * g for z_l, g in zip(z, auto[: len(z)])]
    expected = model.split_parameter_grads(list(auto[len(z):]))

    assert relative_error(stepped, expected_step) < TOLERANCE
    assert [len(layer) for layer in grads] == [len(layer) for layer in expected] == [1 + (kind == "plain")] * model.depth
    assert relative_error([g for layer in grads for g in layer], [g for layer in expected for g in layer]) < TOLERANCE


def test_check_detects_a_wrong_vjp(monkeypatch):
    """The comparison above can fail: a sign flip in the residual model's VJP is caught."""
    model = random_model("residual", "tanh", seed=1)
    x, y = random_batch(model, batch=4, seed=2)
    z, lam = random_state(model, x, seed=3)
    original = type(model).vjp
    monkeypatch.setattr(type(model), "vjp", lambda self, l, z_prev, e: -original(self, l, z_prev, e))
    stepped = activity_step(model, z, effective_errors(prediction_errors(model, x, y, z), lam, 1.0), 0.1)
    z_leaf = [z_l.clone().requires_grad_(True) for z_l in z]
    auto = torch.autograd.grad(augmented_lagrangian(model, x, y, z_leaf, lam, 1.0), z_leaf)
    expected = [z_l - 0.1 * x.shape[0] * g for z_l, g in zip(z, auto)]
    assert relative_error(stepped, expected) > 1e-3
