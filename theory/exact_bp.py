"""Claim C1 on explicit networks: PC-ALM's saddle point is BP (DESIGN sections 3-4).

For a scalar chain or a small matrix network with symbolic entries, solve
``grad_z L_rho = 0``, ``grad_lam L_rho = 0`` exactly and compare with a candidate saddle point
``(feedforward pass, candidate multipliers)``; then compare PC-ALM's weight gradient there
with BP's. The candidate multipliers are BP's backward signals by default; PC's (zeros) and
the sign-flipped signals are negative controls.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from theory.checks import is_zero, nonzero_witness
from theory.equilibria import saddle_point
from theory.network import SymbolicNet
from theory.objectives import (augmented_lagrangian, bp_backward_signals, bp_loss, feedforward,
                               gradient, local_activity_gradients, local_weight_gradients,
                               weight_gradients)
from theory.result import DerivationResult, eq, short, step, verdict

#: Candidate multipliers: BP's backward signals, PC's multipliers (zero), their negation.
CANDIDATES: dict[str, Callable[[SymbolicNet], list[sp.Matrix]]] = {
    "bp": bp_backward_signals,
    "pc": lambda net: [sp.zeros(*ll.shape) for ll in net.lam],
    "negated": lambda net: [-s for s in bp_backward_signals(net)],
}


def _subs(blocks, net: SymbolicNet, z, lam) -> list[sp.Matrix]:
    values = dict(zip(net.z_symbols() + net.lam_symbols(),
                      [v for b in (*z, *lam) for v in b]))
    return [b.xreplace(values) for b in blocks]


def saddle_point_is_bp(net: SymbolicNet, candidate: str = "bp") -> DerivationResult:
    """C1: the unique saddle point of L_rho is (feedforward, BP's signals); gradients match BP.

    DESIGN section 3 (``L_rho``, ``e_l``) and section 4 (claim C1).
    """
    cand = CANDIDATES[candidate](net)
    L_rho = augmented_lagrangian(net)
    sol = saddle_point(net)
    ff = feedforward(net)[:-1]
    # The local rules of DESIGN section 3 equal the computed gradients.
    local_ok = (all(is_zero(gradient(L_rho, zl) - g) for zl, g in zip(net.z, local_activity_gradients(net)))
                and all(is_zero(g - h) for g, h in zip(weight_gradients(L_rho, net), local_weight_gradients(net))))
    z_is_ff = all(is_zero(a - b) for a, b in zip(sol.z, ff))
    lam_is_cand = all(is_zero(a - b) for a, b in zip(sol.lam, cand))
    kkt = [gradient(L_rho, v) for v in (*net.z, *net.lam)]
    kkt_at_cand = _subs(kkt, net, ff, cand)
    kkt_ok = all(is_zero(r) for r in kkt_at_cand)
    alm_grads = _subs(weight_gradients(L_rho, net), net, ff, cand)
    bp_grads = weight_gradients(bp_loss(net), net)
    diffs = [sp.simplify(a - b) for a, b in zip(alm_grads, bp_grads)]
    grads_ok = all(is_zero(d) for d in diffs)
    ok = sol.unique and z_is_ff and lam_is_cand and kkt_ok and grads_ok and local_ok
    details = {"widths": str(list(net.widths)), "candidate": candidate, "unique": str(sol.unique),
               "z_is_feedforward": str(z_is_ff), "lam_is_candidate": str(lam_is_cand),
               "kkt_residual_zero_at_candidate": str(kkt_ok), "weight_grad_minus_bp": short(diffs),
               "local_rules_are_gradients": str(local_ok)}
    if not grads_ok:
        details["nonzero_witness"] = str(nonzero_witness(sp.Matrix.vstack(*[d.reshape(len(d), 1) for d in diffs])))
    steps = [
        step("Augmented Lagrangian (one sample):", eq(r"L_\rho", L_rho)),
        step("Stationarity: $\\nabla_z L_\\rho = 0$ and $\\nabla_\\lambda L_\\rho = \\epsilon = 0$:",
             sp.Matrix(list(sol.equations))),
        step(f"Exact solution ({'unique' if sol.unique else 'not unique'}):",
             *[eq(f"z_{{{l + 1}}}^*", zl) for l, zl in enumerate(sol.z)],
             *[eq(f"\\lambda_{{{l + 1}}}^*", ll) for l, ll in enumerate(sol.lam)]),
        step(f"Candidate `{candidate}` multipliers (BP's backward signal $-\\partial l/\\partial z_l$ "
             "computed from the loss alone for `bp`):",
             *[eq(f"\\lambda_{{{l + 1}}}", c) for l, c in enumerate(cand)]),
        step("PC-ALM's weight gradient at the candidate minus BP's, simplified:",
             *[eq(f"\\Delta_{{{l + 1}}}", d) for l, d in enumerate(diffs)]),
    ]
    name = f"c1_saddle_is_bp_{'x'.join(map(str, net.widths))}" + ("" if candidate == "bp" else f"_candidate_{candidate}")
    return DerivationResult(
        name, f"Network {list(net.widths)}: the saddle point of L_rho is unique, z is the feedforward "
              "pass, lam are BP's backward signals, and PC-ALM's weight gradient minus BP's is 0",
        verdict(ok), details, steps)
