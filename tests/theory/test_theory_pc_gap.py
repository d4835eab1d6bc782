"""C3 on explicit networks: PC's equilibrium follows F* = r^2/(2S), not BP."""

import pytest
import sympy as sp
from tests.theory.helpers_theory import chain_symbols, residual, s_scalar

from theory.checks import is_zero
from theory.equilibria import pc_equilibrium
from theory.network import linear_net, scalar_chain
from theory.objectives import pc_energy
from theory.pc_gap import gradient_minus_bp, pc_fixed_point, pc_gradient_differs_from_bp


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_pc_equilibrium_energy_is_hand_closed_form(depth):
    net = scalar_chain(depth)
    eq = pc_equilibrium(net)
    expected = residual(depth) ** 2 / (2 * s_scalar(depth))
    assert sp.cancel(pc_energy(net, eq.z) - expected) == 0


@pytest.mark.parametrize("net", [scalar_chain(2), scalar_chain(4), linear_net((2, 2, 2, 1))],
                         ids=["chain2", "chain4", "2-2-2-1"])
def test_pc_fixed_point_holds_and_identity_s_fails(net):
    assert pc_fixed_point(net).verdict == "holds"
    control = pc_fixed_point(net, "identity")
    assert control.verdict == "fails"
    assert control.details["energy_minus_candidate"] != "0"


def test_depth2_difference_is_the_explicit_expression():
    w, x, y, _ = chain_symbols(2)
    r = y - w[0] * w[1] * x
    # PC: dF*/dw_1 = -w_2 x r / (1 + w_2^2); BP: -w_2 x r.
    expected_w1 = w[1] ** 3 * x * r / (1 + w[1] ** 2)
    diff = gradient_minus_bp(scalar_chain(2))
    assert sp.cancel(diff[0][0, 0] - expected_w1) == 0
    assert sp.cancel(diff[0][0, 0]) != 0


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_scalar_difference_equals_gradient_of_fstar_minus_loss(depth):
    w, _, _, _ = chain_symbols(depth)
    r, S = residual(depth), s_scalar(depth)
    diff = gradient_minus_bp(scalar_chain(depth))
    for l, d in enumerate(diff):
        expected = sp.diff(r**2 / (2 * S), w[l]) - sp.diff(r**2 / 2, w[l])
        assert sp.cancel(d[0, 0] - expected) == 0
    assert not is_zero(diff[-1])


@pytest.mark.parametrize("net", [scalar_chain(3), linear_net((2, 2, 2, 1))], ids=["chain3", "2-2-2-1"])
def test_pc_differs_from_bp_and_pcalm_does_not(net):
    result = pc_gradient_differs_from_bp(net)
    assert result.verdict == "holds"
    assert result.details["nonzero_witness"] != "None"
    control = pc_gradient_differs_from_bp(net, "pcalm")
    assert control.verdict == "fails"
    assert control.details["identically_zero"] == "True"
