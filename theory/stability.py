"""Claim C2 for scalar chains: the primal-dual flow is Hurwitz for every rho > 0, w != 0.

Flow (DESIGN section 4): ``dz/dt = -grad_z L_rho``, ``dlam/dt = s * grad_lam L_rho = s * eps``
with ``s = +1`` (dual ascent; ``s = -1`` is the sign-flipped negative control). In a linear
net it is linear with Jacobian ``[[-H, -A^T], [s A, 0]]``, ``A = d eps / dz`` the constraint
map (``eps = A z - b``: identity blocks on the diagonal, ``-W_l`` below it) and
``H = d^2 L_rho / dz^2``.
"""

from __future__ import annotations

import sympy as sp
from sympy.polys.matrices import DomainMatrix

from theory.checks import probe_points
from theory.hurwitz import amgm_certificate, hurwitz_determinants
from theory.network import SymbolicNet, scalar_chain
from theory.objectives import augmented_lagrangian, gradient, hidden_errors
from theory.result import DerivationResult, eq, short, step, verdict

S = sp.Symbol("s")


def _stack(blocks) -> sp.Matrix:
    return sp.Matrix.vstack(*blocks) if blocks else sp.zeros(0, 1)


def flow_jacobian(net: SymbolicNet, dual_sign: int = 1) -> sp.Matrix:
    """Jacobian of ``(-grad_z L_rho, dual_sign * grad_lam L_rho)`` in ``(z, lam)`` (DESIGN section 4, C2)."""
    L_rho = augmented_lagrangian(net)
    field = [-g for zl in net.z for g in gradient(L_rho, zl)]
    field += [dual_sign * g for ll in net.lam for g in gradient(L_rho, ll)]
    return sp.Matrix(field).jacobian(net.z_symbols() + net.lam_symbols())


def constraint_map(net: SymbolicNet) -> sp.Matrix:
    """``A = d eps / dz`` for the stacked hidden errors (DESIGN section 4)."""
    return _stack(hidden_errors(net)).jacobian(net.z_symbols())


def activity_hessian(net: SymbolicNet) -> sp.Matrix:
    """``H = d^2 L_rho / dz^2`` (DESIGN section 4)."""
    return sp.hessian(augmented_lagrangian(net), net.z_symbols())


def characteristic_polynomial(J: sp.Matrix) -> list[sp.Expr]:
    """Coefficients ``[a_0..a_n]`` of ``det(s I - J)``."""
    dm = DomainMatrix.from_Matrix(J)
    return [sp.expand(dm.domain.to_sympy(c)) for c in dm.charpoly()]


def _in_squares(coeffs: list[sp.Expr], weights: list[sp.Symbol]) -> tuple[list[sp.Expr], list[sp.Symbol]] | None:
    """Rewrite in ``u_l = w_l^2`` if only even powers of the weights occur, else None."""
    squares = [sp.Symbol(f"u_{str(w).split('_')[1]}", positive=True) for w in weights]
    out = []
    for c in coeffs:
        poly = sp.Poly(c, *weights)
        if any(e % 2 for m in poly.monoms() for e in m):
            return None
        out.append(sp.expand(c.subs({w**2: u for w, u in zip(weights, squares)})))
    return out, squares


def _counterexample(dets: list[sp.Expr], gens: tuple[sp.Symbol, ...]) -> dict[str, str] | None:
    for point in probe_points(gens, count=6):
        for k, d in enumerate(dets, start=1):
            value = d.xreplace(point)
            if value <= 0:
                return {"point": str(point), "minor": f"Delta_{k}", "value": str(value)}
    return None


def scalar_flow_is_hurwitz(depth: int, dual_sign: int = 1) -> DerivationResult:
    """Routh-Hurwitz proof that the scalar-chain flow Jacobian is Hurwitz (C2, DESIGN section 4).

    ``dual_sign = -1`` flips the dual update (negative control): the verdict must be "fails".
    """
    if depth < 2:
        raise ValueError("the flow needs a hidden layer: depth >= 2")
    net = scalar_chain(depth)
    J = flow_jacobian(net, dual_sign)
    A, H = constraint_map(net), activity_hessian(net)
    block = sp.Matrix.vstack(sp.Matrix.hstack(-H, -A.T),
                             sp.Matrix.hstack(dual_sign * A, sp.zeros(*A.shape)))
    coeffs = characteristic_polynomial(J)
    weights = [w for w in net.weight_symbols() if J.has(w)]
    rewritten = _in_squares(coeffs, weights)
    steps = [
        step("Flow Jacobian in $(z, \\lambda)$, computed by differentiating the flow:", eq("J", J)),
        step("Constraint map $A = \\partial\\epsilon/\\partial z$ and activity Hessian $H$:",
             eq("A", A), eq("H", H)),
        step("Characteristic polynomial $\\det(sI - J)$:",
             eq("p(s)", sp.Add(*(c * S ** (len(coeffs) - 1 - i) for i, c in enumerate(coeffs))))),
    ]
    details = {"depth": str(depth), "dual_sign": str(dual_sign),
               "jacobian_is_block_form": str(J == block),
               "charpoly": short(coeffs)}
    if rewritten is None:
        details["reason"] = "odd powers of weights in the characteristic polynomial"
        return DerivationResult(f"c2_routh_hurwitz_depth{depth}", _claim(depth), verdict(False), details, steps)
    coeffs_u, squares = rewritten
    gens = (net.rho, *squares)
    dets = hurwitz_determinants(coeffs_u, gens)
    certified = []
    for k, d in enumerate(dets, start=1):
        cert = amgm_certificate(d, gens)
        certified.append(cert is not None)
        n_terms = len(sp.Add.make_args(d))
        bounds = ("\\begin{aligned}" + " \\\\ ".join("& " + sp.latex(i) for i in cert.inequalities())
                  + "\\end{aligned}") if cert and cert.bounds else ""
        steps.append(step(
            f"Hurwitz minor $\\Delta_{{{k}}}$ ({n_terms} terms, in $u_l = w_l^2$): "
            + (f"positive: its negative terms are covered by {len(cert.bounds)} weighted AM-GM bounds "
               "(shown) and the rest has non-negative coefficients." if cert and cert.bounds
               else "every coefficient is positive." if cert else "no positivity certificate found."),
            eq(f"\\Delta_{{{k}}}", d) if n_terms <= 40 else "", bounds))
    ok = J == block and coeffs_u[0] == 1 and all(certified)  # the flow is the claimed block form, and Hurwitz
    details.update({"hurwitz_minors_certified": str(certified), "squared_weights": str(squares)})
    if not ok:
        witness = _counterexample(dets, gens)
        details["counterexample"] = str(witness)
    steps.append(step("Routh-Hurwitz: $a_0 = 1 > 0$ and every $\\Delta_k > 0$ for $\\rho > 0$, "
                      "$w_l \\neq 0$, so every eigenvalue of $J$ has negative real part."
                      if ok else "The Routh-Hurwitz conditions are not established."))
    return DerivationResult(f"c2_routh_hurwitz_depth{depth}" + ("" if dual_sign == 1 else "_dual_sign_flipped"),
                            _claim(depth), verdict(ok), details, steps)


def _claim(depth: int) -> str:
    return (f"Scalar chain, depth {depth}: every eigenvalue of the primal-dual flow Jacobian has "
            "negative real part for all rho > 0 and non-zero weights (Routh-Hurwitz)")
