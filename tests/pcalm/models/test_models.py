"""Models: DESIGN section 1 formulas, weights()/from_weights(), dtypes, and gradients into .grad."""

import math

import pytest
import torch

import pcalm
from tests.helpers import ACTIVATIONS, random_batch, random_model


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_residual_mlp_follows_the_paper_formulas(activation):
    """mu_1 = s_in x W_1^T, mu_l = z + s_h phi(z) W_l^T, mu_L = s_out phi(z) W_L^T, written out here."""
    n0, width, depth, n_out = 3, 4, 5, 2
    model = pcalm.ResidualMLP(n0, width, depth, n_out, activation=activation, seed=3, dtype=torch.float64)
    phi = {"linear": lambda t: t, "tanh": torch.tanh, "relu": torch.relu}[activation]
    w = model.weights()
    x, _ = random_batch(model, batch=6, seed=1)
    z = x @ w[0].T / math.sqrt(n0)
    for l in range(1, depth - 1):
        z = z + phi(z) @ w[l].T / math.sqrt(width * depth)
    expected = phi(z) @ w[-1].T / width
    torch.testing.assert_close(model(x), expected, rtol=1e-14, atol=1e-14)


def test_residual_feedforward_gives_predict_per_layer_and_one_unbind_to_autograd():
    # The feedforward pass unbinds the stacked hidden blocks once; it must equal predict() layer
    # by layer bit for bit, and its graph must hold one UnbindBackward and no per-layer
    # SelectBackward (each of which would backpropagate a full-size (L-2, N, N) zero tensor).
    model = pcalm.ResidualMLP(3, 4, 6, 2, seed=0)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    activities = model.feedforward(x)
    z = x
    for l, activity in enumerate(activities, start=1):
        z = model.predict(l, z)
        assert torch.equal(activity, z), l
    seen, stack, names = set(), [activities[-1].grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(node.name())
        stack.extend(next_node for next_node, _ in node.next_functions)
    assert names.count("UnbindBackward0") == 1 and "SelectBackward0" not in names


def test_residual_init_is_standard_normal_and_seeded():
    model = pcalm.ResidualMLP(64, 128, 8, 10, seed=0)
    entries = torch.cat([w.detach().reshape(-1) for w in model.weights()]).double()
    # ~107k N(0,1) draws: the sample mean's standard error is 0.003, the std's about 0.002; 5 sigma bounds.
    assert abs(float(entries.mean())) < 0.015
    assert abs(float(entries.std()) - 1.0) < 0.011
    again = pcalm.ResidualMLP(64, 128, 8, 10, seed=0)
    other = pcalm.ResidualMLP(64, 128, 8, 10, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(model.weights(), again.weights()))
    assert not torch.equal(model.weights()[0], other.weights()[0])


@pytest.mark.parametrize("kind", ["plain", "residual"])
def test_weights_round_trip_and_shapes(kind):
    model = random_model(kind, "tanh", seed=2)
    weights = model.weights()
    assert [tuple(w.shape) for w in weights] == [(n_out, n_in) for n_in, n_out in zip(model.widths[:-1], model.widths[1:])]
    if kind == "plain":
        rebuilt = pcalm.MLP.from_weights(weights, activation="tanh", biases=model.biases())
    else:
        rebuilt = pcalm.ResidualMLP.from_weights(weights, activation="tanh")
    x, _ = random_batch(model, batch=3, seed=0)
    assert rebuilt.dtype == torch.float64
    assert torch.equal(rebuilt(x), model(x))


def test_from_weights_rejects_bad_shapes():
    with pytest.raises(ValueError, match="^weights: W_2 has shape"):
        pcalm.MLP.from_weights([torch.zeros(4, 3), torch.zeros(2, 5)])
    with pytest.raises(ValueError, match="^weights: W_2 has shape"):
        pcalm.ResidualMLP.from_weights([torch.zeros(4, 3), torch.zeros(4, 5), torch.zeros(2, 4)])


def test_identity_is_an_alias_of_linear():
    assert pcalm.MLP([2, 3], activation="identity").activation.name == "linear"


@pytest.mark.parametrize("kind", ["plain", "residual"])
def test_float32_default_and_float64_on_request(kind):
    model = pcalm.MLP([3, 4, 2]) if kind == "plain" else pcalm.ResidualMLP(3, 4, 3, 2)
    assert model.dtype == torch.float32
    assert model.double().dtype == torch.float64


@pytest.mark.parametrize("kind", ["plain", "residual"])
def test_apply_grads_lets_any_optimizer_step(kind):
    """SGD with lr 1 moves every weight by exactly minus its gradient."""
    model = random_model(kind, "tanh", seed=5)
    x, y = random_batch(model, batch=4, seed=6)
    before = [w.detach().clone() for w in model.weights()]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    result = pcalm.train_step(model, optimizer, x, y, pcalm.PCALM(eta=0.1, steps=4))
    for w0, w1, g in zip(before, model.weights(), result.weight_grads):
        torch.testing.assert_close(w1.detach(), w0 - g, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@torch.no_grad()
def test_stacked_formulas_equal_the_per_layer_ones(activation):
    """pcalm.models.residual_stacked against ResidualMLP.predict / vjp / param_grads (through
    pcalm.engine.energy's per-layer rules), on random activities and errors far from any equilibrium:
    the two forms of one formula differ only in the order of float64 operations (batched vs
    per-layer matmuls), a few ulps on O(1) values, so 1e-13 relative; a wrong slice, sign or
    scaling is off at order 1."""
    from pcalm.engine.energy import activity_step, prediction_errors, weight_gradients
    from pcalm.models import residual_stacked as stacked

    n0, width, depth, n_out, batch, eta = 3, 4, 6, 2, 5, 0.3
    model = pcalm.ResidualMLP(n0, width, depth, n_out, activation=activation, seed=4, dtype=torch.float64)
    generator = torch.Generator().manual_seed(7)
    normal = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    x, y = normal(batch, n0), normal(batch, n_out)
    z = [normal(batch, width) for _ in range(depth - 1)]
    e = [normal(batch, width) for _ in range(depth - 1)] + [normal(batch, n_out)]
    close = lambda a, b: torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)  # noqa: E731

    weights = stacked.StackedWeights.of(model)
    P = torch.stack([model.predict(1, x), *z])
    Z = P[1:]
    linear = activation == "linear"
    A = Z if linear else torch.empty_like(Z)
    D = None if linear else torch.empty_like(Z)
    stacked.activate(model, Z, A, D, torch.ones((), dtype=torch.float64))
    close(A, model.activation.phi(Z))
    if D is not None:
        close(D, model.activation.dphi(Z))

    Eps, eps_out = torch.empty_like(Z), torch.empty(batch, n_out, dtype=torch.float64)
    stacked.prediction_errors(model, weights, P, A, y, Eps, eps_out)
    expected = prediction_errors(model, x, y, z)
    close(Eps, torch.stack(expected[:-1]))
    close(eps_out, expected[-1])

    E, V, moved = torch.stack(e[:-1]), torch.empty_like(Z), Z.clone()
    stacked.activity_step(model, weights, moved, E, e[-1], D, V, eta)
    close(moved, torch.stack(activity_step(model, z, e, eta)))

    expected_grads = [g for (g,) in weight_gradients(model, x, z, e)]
    for got, want in zip(stacked.weight_gradients(model, x, E, A, e[-1]), expected_grads):
        close(got, want)
