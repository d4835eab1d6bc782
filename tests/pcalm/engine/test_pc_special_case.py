"""PC is PC-ALM with alpha = 0, rho = 1 (PC.as_pcalm, the one PC-ALM loop), bit for bit."""

import pytest
import torch

import pcalm
from tests.helpers import ACTIVATIONS, random_batch, random_model


def trajectory(model, x, y, algo):
    states = []
    result = pcalm.infer(model, x, y, algo, observer=lambda step, z, lam, e: states.append([t.clone() for t in z + lam]))
    return states, result


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", ["plain", "residual"])
def test_pcalm_with_alpha_zero_is_pc_bit_for_bit(kind, activation):
    model = random_model(kind, activation, seed=4)
    x, y = random_batch(model, batch=3, seed=5)
    pc_states, pc = trajectory(model, x, y, pcalm.PC(eta=0.1, steps=7))
    alm_states, alm = trajectory(model, x, y, pcalm.PCALM(eta=0.1, alpha=0.0, rho=1.0, steps=7))
    assert len(pc_states) == len(alm_states) == 8
    for a, b in zip(pc_states, alm_states):
        assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert all(torch.equal(p, q) for p, q in zip(pc.weight_grads, alm.weight_grads))
    assert torch.equal(pc.energies, alm.energies)
    assert all(torch.count_nonzero(l) == 0 for l in pc.lam)


def test_pc_matches_gradient_descent_on_f():
    """PC's trajectory is per-sample gradient descent on F (DESIGN section 2), written here
    independently with autograd; float64 agreement to 1e-12 (rounding of 5 steps)."""
    model = random_model("plain", "tanh", seed=6)
    x, y = random_batch(model, batch=3, seed=7)
    steps, eta = 5, 0.1
    result = pcalm.infer(model, x, y, pcalm.PC(eta=eta, steps=steps))
    z = [a.detach() for a in model.feedforward(x)[:-1]]
    for _ in range(steps):
        leaf = [t.clone().requires_grad_(True) for t in z]
        below = [x, *leaf]
        energy = 0.5 * ((y - model.predict(model.depth, below[-1])) ** 2).sum()
        for l, z_l in enumerate(leaf, start=1):
            energy = energy + 0.5 * ((z_l - model.predict(l, below[l - 1])) ** 2).sum()
        grads = torch.autograd.grad(energy, leaf)
        z = [t - eta * g for t, g in zip(z, grads)]
    for a, b in zip(result.z, z):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_pcalm_with_alpha_positive_differs_from_pc():
    """The bitwise test can fail: with alpha = 1 the trajectory departs from PC's."""
    model = random_model("plain", "tanh", seed=4)
    x, y = random_batch(model, batch=3, seed=5)
    pc = pcalm.infer(model, x, y, pcalm.PC(eta=0.1, steps=7))
    alm = pcalm.infer(model, x, y, pcalm.PCALM(eta=0.1, alpha=1.0, steps=7))
    assert not all(torch.equal(p, q) for p, q in zip(pc.z, alm.z))
