"""Claim C3 on explicit networks: PC's equilibrium follows F*, not BP (DESIGN sections 2, 4).

``F* = 1/2 r^T S^{-1} r`` with ``r = y - W_L ... W_1 x`` and
``S = I + sum_{l=2}^{L} (W_L ... W_l)(W_L ... W_l)^T``; PC's weight gradient at its
equilibrium is ``grad_W F*``, which differs from BP's ``grad_W 1/2 |r|^2`` unless ``S = I``.
"""

from __future__ import annotations

import sympy as sp

from theory.checks import is_zero, nonzero_witness
from theory.equilibria import pc_equilibrium, saddle_point
from theory.network import SymbolicNet
from theory.objectives import augmented_lagrangian, bp_loss, feedforward, pc_energy, weight_gradients
from theory.result import DerivationResult, eq, short, step, verdict

#: Candidate ``S`` for ``F* = 1/2 r^T S^{-1} r``: DESIGN's, and ``I`` (the squared error).
S_CANDIDATES = ("design", "identity")
#: Equilibria whose weight gradient is compared with BP's: PC's and (control) PC-ALM's.
VARIANTS = ("pc", "pcalm")


def s_matrix(net: SymbolicNet, which: str = "design") -> sp.Matrix:
    """``S = I + sum_{l=2}^{L} (W_L...W_l)(W_L...W_l)^T`` (DESIGN section 2), or ``I``."""
    n_out = net.widths[-1]
    S = sp.eye(n_out)
    if which == "identity":
        return S
    if which != "design":
        raise ValueError(f"unknown S candidate {which!r}; choose from {S_CANDIDATES}")
    for l in range(2, net.depth + 1):
        M = sp.eye(n_out)
        for Wk in reversed(net.W[l - 1:]):
            M = M * Wk
        S += M * M.T
    return S


def residual(net: SymbolicNet) -> sp.Matrix:
    """``r = y - W_L ... W_1 x`` (DESIGN section 2)."""
    return net.y - feedforward(net)[-1]


def f_star(net: SymbolicNet, which: str = "design") -> sp.Expr:
    """``F* = 1/2 r^T S^{-1} r`` (DESIGN section 2, C3), one sample."""
    r = residual(net)
    return (r.T * s_matrix(net, which).inv() * r)[0, 0] / 2


def _pc_weight_gradients(net: SymbolicNet) -> list[sp.Matrix]:
    """PC's weight gradient ``dF/dW`` at its equilibrium (z fixed at z*)."""
    sol = pc_equilibrium(net)
    at = dict(zip(net.z_symbols(), [v for zl in sol.z for v in zl]))
    return [g.xreplace(at) for g in weight_gradients(pc_energy(net), net)]


def pc_fixed_point(net: SymbolicNet, s_candidate: str = "design") -> DerivationResult:
    """C3: PC's equilibrium energy is F* and PC's weight gradient is grad F* (DESIGN section 2)."""
    sol = pc_equilibrium(net)
    F_eq = sp.cancel(pc_energy(net, sol.z))
    F_cand = f_star(net, s_candidate)
    energy_diff = sp.cancel(F_eq - F_cand)
    details = {"widths": str(list(net.widths)), "s_candidate": s_candidate, "unique": str(sol.unique),
               "energy_minus_candidate": short(energy_diff)}
    if energy_diff == 0:
        grads = _pc_weight_gradients(net)
        grad_diffs = [(g - h).applyfunc(sp.cancel) for g, h in zip(grads, weight_gradients(F_cand, net))]
        grads_ok = all(is_zero(d) for d in grad_diffs)
        details["gradient_minus_grad_candidate_zero"] = str(grads_ok)
    else:  # the energies already differ: the claim fails, the gradients are not compared
        grad_diffs, grads_ok = [], False
        details["nonzero_witness"] = str(nonzero_witness(energy_diff))
    ok = sol.unique and energy_diff == 0 and grads_ok
    steps = [
        step("PC's equilibrium $\\nabla_z F = 0$, solved exactly:",
             *[eq(f"z_{{{l + 1}}}^*", zl) for l, zl in enumerate(sol.z)]),
        step(f"Energy there and the candidate $F^* = \\frac12 r^T S^{{-1}} r$ (`{s_candidate}` S):",
             eq("F(z^*)", sp.factor(F_eq)), eq("S", s_matrix(net, s_candidate))),
        step("Differences $F(z^*) - F^*$ and $\\partial F/\\partial W_l|_{z^*} - \\partial F^*/\\partial W_l$:",
             energy_diff, *grad_diffs),
    ]
    name = f"c3_pc_fixed_point_{'x'.join(map(str, net.widths))}" + ("" if s_candidate == "design" else f"_S_{s_candidate}")
    return DerivationResult(
        name, f"Network {list(net.widths)}: at PC's equilibrium F = 1/2 r^T S^-1 r with "
              "S = I + sum_l (W_L..W_l)(W_L..W_l)^T, and PC's weight gradient is grad F*",
        verdict(ok), details, steps)


def gradient_minus_bp(net: SymbolicNet, variant: str = "pc") -> list[sp.Matrix]:
    """Equilibrium weight gradient minus BP's, per layer, unsimplified (DESIGN sections 2-4).

    ``variant``: ``"pc"`` (dF/dW at PC's equilibrium) or ``"pcalm"`` (dL_rho/dW at the saddle point).
    """
    if variant == "pc":
        grads = _pc_weight_gradients(net)
    elif variant == "pcalm":
        sol = saddle_point(net)
        at = dict(zip(net.z_symbols() + net.lam_symbols(), [v for b in (*sol.z, *sol.lam) for v in b]))
        grads = [g.xreplace(at) for g in weight_gradients(augmented_lagrangian(net), net)]
    else:
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    return [g - h for g, h in zip(grads, weight_gradients(bp_loss(net), net))]


def pc_gradient_differs_from_bp(net: SymbolicNet, variant: str = "pc") -> DerivationResult:
    """C3: PC's equilibrium weight gradient minus BP's is not identically 0 (DESIGN section 4).

    ``variant = "pcalm"`` (PC-ALM's saddle point instead of PC's equilibrium) is the negative
    control: its difference simplifies to 0, so the claim must fail.
    """
    raw = gradient_minus_bp(net, variant)
    witness = nonzero_witness(sp.Matrix.vstack(*[d.reshape(len(d), 1) for d in raw]))
    ok = witness is not None
    scalar = max(net.widths) == 1
    details = {"widths": str(list(net.widths)), "variant": variant, "nonzero_witness": str(witness)}
    if scalar or not ok:
        diffs = [d.applyfunc(lambda e: sp.factor(sp.cancel(e))) for d in raw]
        details["difference"] = short([d.tolist() for d in diffs])
        details["identically_zero"] = str(all(is_zero(d) for d in diffs))
        shown = step(f"Weight gradient at the `{variant}` equilibrium minus BP's, per layer, simplified "
                     "(one sample):", *[eq(f"\\Delta_{{{l + 1}}}", d) for l, d in enumerate(diffs)])
    else:
        shown = step("The simplified difference is large for matrix networks; the scalar chain shows it.")
    steps = [shown, step("A rational point where the difference is exactly non-zero: " + str(witness)
                         if ok else "No non-zero point: the difference is identically zero.")]
    name = f"c3_pc_differs_from_bp_{'x'.join(map(str, net.widths))}" + ("" if variant == "pc" else f"_variant_{variant}")
    return DerivationResult(
        name, f"Network {list(net.widths)}: the equilibrium weight gradient differs from BP's "
              "(its difference is not identically zero)", verdict(ok), details, steps)
