"""Energies, local rules and BP signals of theory.objectives against hand-written forms."""

import pytest
import sympy as sp
from tests.theory.helpers_theory import bp_signal, chain_symbols

from theory.checks import is_zero, nonzero_witness
from theory.network import linear_net, scalar_chain
from theory.objectives import (augmented_lagrangian, bp_backward_signals, bp_loss, feedforward,
                               gradient, local_activity_gradients, local_weight_gradients,
                               pc_energy, weight_gradients)


def test_scalar_augmented_lagrangian_matches_design_formula():
    net = scalar_chain(3)
    w, x, y, rho = chain_symbols(3)
    z1, z2 = (sp.Symbol(f"z_{l}", real=True) for l in (1, 2))
    l1, l2 = (sp.Symbol(f"lambda_{l}", real=True) for l in (1, 2))
    e1, e2 = z1 - w[0] * x, z2 - w[1] * z1
    expected = (y - w[2] * z2) ** 2 / 2 + l1 * e1 + rho / 2 * e1**2 + l2 * e2 + rho / 2 * e2**2
    assert sp.expand(augmented_lagrangian(net) - expected) == 0
    pc = (y - w[2] * z2) ** 2 / 2 + e1**2 / 2 + e2**2 / 2
    assert sp.expand(pc_energy(net) - pc) == 0


@pytest.mark.parametrize("widths", [(1, 1, 1), (1, 1, 1, 1), (2, 2, 2, 1), (3, 2, 2)])
def test_local_rules_are_the_gradients(widths):
    net = linear_net(widths)
    L_rho = augmented_lagrangian(net)
    for zl, local in zip(net.z, local_activity_gradients(net)):
        assert is_zero(gradient(L_rho, zl) - local)
    for g, local in zip(weight_gradients(L_rho, net), local_weight_gradients(net)):
        assert is_zero(g - local)


def test_local_rule_with_wrong_sign_is_detected():
    net = scalar_chain(3)
    L_rho = augmented_lagrangian(net)
    wrong = -local_activity_gradients(net)[0]
    assert not is_zero(gradient(L_rho, net.z[0]) - wrong)
    assert nonzero_witness(gradient(L_rho, net.z[0]) - wrong) is not None


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_bp_signals_are_products_of_downstream_weights(depth):
    signals = bp_backward_signals(scalar_chain(depth))
    for l, s in enumerate(signals, start=1):
        assert sp.expand(s[0, 0] - bp_signal(depth, l)) == 0


def test_feedforward_and_loss_of_matrix_net():
    net = linear_net((2, 2, 1))
    out = net.W[1] * (net.W[0] * net.x)
    assert is_zero(feedforward(net)[-1] - out)
    assert sp.expand(bp_loss(net) - (net.y - out)[0, 0] ** 2 / 2) == 0


def test_invalid_networks_are_rejected():
    with pytest.raises(ValueError):
        scalar_chain(0)
    with pytest.raises(ValueError):
        linear_net((2,))
