"""C2 for scalar chains: Routh-Hurwitz holds for depths 2-4 and fails with a flipped dual sign."""

import pytest
import sympy as sp
from tests.theory.helpers_theory import chain_symbols

from theory.network import scalar_chain
from theory.stability import (S, characteristic_polynomial, constraint_map, flow_jacobian,
                              scalar_flow_is_hurwitz)


def test_depth2_jacobian_and_characteristic_polynomial_by_hand():
    w, _, _, rho = chain_symbols(2)
    J = flow_jacobian(scalar_chain(2))
    assert J == sp.Matrix([[-(w[1] ** 2 + rho), -1], [1, 0]])
    coeffs = characteristic_polynomial(J)
    assert [sp.expand(c) for c in coeffs] == [1, sp.expand(w[1] ** 2 + rho), 1]


def test_constraint_map_is_unit_lower_bidiagonal():
    w, _, _, _ = chain_symbols(4)
    A = constraint_map(scalar_chain(4))
    assert A == sp.Matrix([[1, 0, 0], [-w[1], 1, 0], [0, -w[2], 1]])


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_routh_hurwitz_holds(depth):
    result = scalar_flow_is_hurwitz(depth)
    assert result.verdict == "holds", result.details
    assert result.details["jacobian_is_block_form"] == "True"
    assert "False" not in result.details["hurwitz_minors_certified"]


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_flipped_dual_sign_fails_with_counterexample(depth):
    result = scalar_flow_is_hurwitz(depth, dual_sign=-1)
    assert result.verdict == "fails"
    assert result.details["counterexample"] != "None"


@pytest.mark.parametrize("dual_sign", [1, -1])
def test_routh_hurwitz_verdict_agrees_with_numerical_roots(dual_sign):
    net = scalar_chain(3)
    rho, w = net.rho, net.weight_symbols()
    point = {rho: sp.Rational(1, 3), w[1]: sp.Rational(-5, 2), w[2]: sp.Rational(7, 4)}
    coeffs = [c.xreplace(point) for c in characteristic_polynomial(flow_jacobian(net, dual_sign))]
    roots = sp.Poly(coeffs, S).nroots()
    stable = all(sp.re(r) < 0 for r in roots)
    assert stable == (scalar_flow_is_hurwitz(3, dual_sign).verdict == "holds")
