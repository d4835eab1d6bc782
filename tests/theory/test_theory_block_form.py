"""General depth (matrix symbols): C1 by induction, KKT block form, C2 by J + J^T."""

import pytest
import sympy as sp
from sympy import MatrixSymbol, Trace

from theory.block_form import block_kkt, block_system, exact_bp_every_depth, flow_stability_every_depth
from theory.matcalc import is_zero_matexpr, trace_gradient
from theory.network import scalar_chain
from theory.stability import activity_hessian, constraint_map


def test_induction_holds_for_bp_multipliers():
    result = exact_bp_every_depth()
    assert result.verdict == "holds", result.details


@pytest.mark.parametrize("candidate", ["pc", "negated"])
def test_induction_rejects_wrong_multipliers(candidate):
    result = exact_bp_every_depth(candidate)
    assert result.verdict == "fails"
    assert result.details["base_case"] == "False"
    assert result.details["hidden_weight_grad_equals_bp"] == "False"


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_block_kkt_holds(depth):
    assert block_kkt(depth).verdict == "holds"


@pytest.mark.parametrize("candidate", ["pc", "negated"])
def test_block_kkt_rejects_wrong_multipliers(candidate):
    result = block_kkt(3, candidate)
    assert result.verdict == "fails"
    assert result.details["grad_z_zero_at_candidate"] == "False"


@pytest.mark.parametrize("depth", [3, 4])
def test_block_form_specialises_to_the_scalar_chain(depth):
    blocks = block_system(depth)
    dims = {n: 1 for n in sp.symbols(f"n_0:{depth + 1}", integer=True, positive=True)}
    net = scalar_chain(depth)
    to_scalar = {MatrixSymbol(f"W_{l}", 1, 1)[0, 0]: w for l, w in enumerate(net.weight_symbols(), start=1)}
    for key, explicit in (("A", constraint_map(net)), ("H", activity_hessian(net))):
        value = blocks[key].subs(dims).as_explicit().xreplace(to_scalar)
        assert sp.expand(value - explicit) == sp.zeros(depth - 1)


def test_flow_stability_every_depth_and_flipped_control():
    assert flow_stability_every_depth(3).verdict == "holds"
    flipped = flow_stability_every_depth(3, dual_sign=-1)
    assert flipped.verdict == "fails"
    assert flipped.details["symmetric_part_general"] == "False"


def test_trace_gradient_of_a_sum_is_not_lost():
    n = sp.Symbol("n", integer=True, positive=True)
    X, a, b = MatrixSymbol("X", n, n), MatrixSymbol("a", n, 1), MatrixSymbol("b", n, 1)
    expr = Trace(a.T * X * b) + 3 * Trace(b.T * X * b)
    grad = trace_gradient(expr, X)
    assert is_zero_matexpr(grad - (a * b.T + 3 * b * b.T))
    assert not is_zero_matexpr(grad - a * b.T)
