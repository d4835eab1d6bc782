"""C1 on explicit networks: PC-ALM's saddle point is BP; wrong candidates are rejected."""

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.theory.helpers_theory import bp_signal

from theory.equilibria import saddle_point
from theory.exact_bp import saddle_point_is_bp
from theory.network import linear_net, scalar_chain


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_scalar_chain_saddle_point_is_bp(depth):
    result = saddle_point_is_bp(scalar_chain(depth))
    assert result.verdict == "holds", result.details
    assert result.details["unique"] == "True"


@pytest.mark.parametrize("depth", [2, 4])
def test_solved_multipliers_equal_hand_written_bp_signals(depth):
    eq = saddle_point(scalar_chain(depth))
    assert eq.unique
    for l, lam in enumerate(eq.lam, start=1):
        assert sp.expand(lam[0, 0] - bp_signal(depth, l)) == 0


def test_symbolic_matrix_net_saddle_point_is_bp():
    result = saddle_point_is_bp(linear_net((2, 2, 2, 1)))
    assert result.verdict == "holds", result.details


@pytest.mark.parametrize("candidate", ["pc", "negated"])
@pytest.mark.parametrize("net", [scalar_chain(3), linear_net((2, 2, 2, 1))], ids=["chain3", "2-2-2-1"])
def test_wrong_multipliers_fail(net, candidate):
    result = saddle_point_is_bp(net, candidate)
    assert result.verdict == "fails"
    assert result.details["lam_is_candidate"] == "False"
    assert result.details["nonzero_witness"] != "None"


@settings(max_examples=max(3, settings.default.max_examples // 4))
@given(widths=st.lists(st.integers(1, 2), min_size=3, max_size=4))
def test_random_small_widths_saddle_point_is_bp(widths):
    assert saddle_point_is_bp(linear_net(widths)).verdict == "holds"
