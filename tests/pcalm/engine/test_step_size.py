"""eta = "auto": lambda_max of the per-sample activity Hessian, against a dense Hessian."""

import pytest
import torch

import pcalm
from tests.helpers import ACTIVATIONS, augmented_lagrangian, random_batch, random_model


def dense_lambda_max(model, x, y, rho):
    """Largest eigenvalue over samples of each sample's dense activity Hessian (torch.func.hessian)."""
    best = -float("inf")
    for b in range(x.shape[0]):
        xb, yb = x[b : b + 1], y[b : b + 1]
        z0 = [a.detach() for a in model.feedforward(xb)[:-1]]
        flat = torch.cat([a.reshape(-1) for a in z0])
        sizes = [a.numel() for a in z0]

        def objective(v):
            z = [p.reshape(a.shape) for p, a in zip(v.split(sizes), z0)]
            return augmented_lagrangian(model, xb, yb, z, [torch.zeros_like(a) for a in z], rho)  # B = 1: per sample

        hessian = torch.autograd.functional.hessian(objective, flat)
        best = max(best, float(torch.linalg.eigvalsh(hessian)[-1]))
    return best


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", ["plain", "residual"])
def test_lambda_max_matches_dense_hessian(kind, activation):
    """Lanczos to rtol 1e-6 against a dense eigensolver: agreement to 1e-5 relative."""
    model = random_model(kind, activation, seed=8)
    x, y = random_batch(model, batch=5, seed=9)
    for rho in (1.0, 2.5):
        expected = dense_lambda_max(model, x, y, rho)
        assert pcalm.activity_lambda_max(model, x, y, rho) == pytest.approx(expected, rel=1e-5)


def test_auto_eta_is_the_inverse_of_lambda_max():
    model = random_model("residual", "relu", seed=8)
    x, y = random_batch(model, batch=5, seed=9)
    result = pcalm.infer(model, x, y, pcalm.PCALM(eta="auto", steps=3))
    assert result.eta == pytest.approx(1.0 / dense_lambda_max(model, x, y, 1.0), rel=1e-5)
