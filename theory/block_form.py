"""General depth: claims C1 and C2 with SymPy matrix symbols (DESIGN sections 3-4).

Hidden activities are stacked as ``z = (z_1..z_{L-1})``. The hidden errors are affine,
``eps = A z - b`` with the constraint map ``A = d eps / dz`` block lower bidiagonal
(``A_{ll} = I``, ``A_{l,l-1} = -W_l``) and ``b = (W_1 x, 0, ..., 0)``; the output error is
``eps_L = y - C z`` with ``C = (0, ..., 0, W_L)``. Then

    L_rho = 1/2 |y - C z|^2 + <lam, A z - b> + rho/2 |A z - b|^2,
    grad_z L_rho = H z + A^T lam - C^T y - rho A^T b,  H = C^T C + rho A^T A,
    grad_lam L_rho = A z - b,

and the primal-dual flow ``(dz/dt, dlam/dt) = (-grad_z, +grad_lam)`` has Jacobian
``[[-H, -A^T], [A, 0]]``.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp
from sympy import BlockMatrix, Identity, MatrixSymbol, ZeroMatrix, block_collapse

from theory.matcalc import inner, is_zero_matexpr, sq, trace_gradient
from theory.result import DerivationResult, eq, step, verdict

#: Candidate multipliers ``lam_l`` as a function of ``P_l = W_L ... W_{l+1}`` and the output
#: residual ``r``: BP's backward signal, PC's zeros, and the sign-flipped signal.
CANDIDATES: dict[str, Callable[[sp.MatrixExpr, sp.MatrixExpr], sp.MatrixExpr]] = {
    "bp": lambda P, r: P.T * r,
    "pc": lambda P, r: ZeroMatrix(P.shape[1], 1),
    "negated": lambda P, r: -(P.T * r),
}

_dims = sp.symbols("n_0 n_{l-1} n_l n_{l+1} n_L", integer=True, positive=True)
N0, NPREV, NL_, NNEXT, NOUT = _dims
RHO = sp.Symbol("rho", positive=True)


def _generic_layer() -> dict[str, sp.MatrixExpr]:
    """Matrix symbols around a generic hidden layer l (1 <= l <= L-1)."""
    return {
        "x": MatrixSymbol("x", N0, 1), "y": MatrixSymbol("y", NOUT, 1), "r": MatrixSymbol("r", NOUT, 1),
        "Q": MatrixSymbol("Q", NPREV, N0),                    # W_{l-1} ... W_1
        "W": MatrixSymbol("W_l", NL_, NPREV), "Wn": MatrixSymbol("W_{l+1}", NNEXT, NL_),
        "P": MatrixSymbol("P", NOUT, NNEXT),                  # W_L ... W_{l+2}
        "Pl": MatrixSymbol("P_l", NOUT, NL_),                 # W_L ... W_{l+1}
        "zp": MatrixSymbol("z_{l-1}", NPREV, 1), "z": MatrixSymbol("z_l", NL_, 1),
        "zn": MatrixSymbol("z_{l+1}", NNEXT, 1),
        "lam": MatrixSymbol(r"\lambda_l", NL_, 1), "lamn": MatrixSymbol(r"\lambda_{l+1}", NNEXT, 1),
        "WL": MatrixSymbol("W_L", NOUT, NL_),                 # output weights when l = L-1
    }


def exact_bp_every_depth(candidate: str = "bp") -> DerivationResult:
    """C1 for every depth L, by induction over the layers (DESIGN sections 3-4).

    Forward induction from ``grad_lam L_rho = 0`` gives the feedforward pass; backward
    induction from ``grad_z L_rho = 0`` gives ``lam_l = W_{l+1}^T lam_{l+1}``,
    ``lam_{L-1} = W_L^T eps_L``; the candidate multipliers must satisfy both the base case and
    the induction step, equal BP's backward signal ``-dl/dz_l``, and make the weight gradient
    ``-e_l z_{l-1}^T`` equal to BP's.
    """
    g = _generic_layer()
    cand = CANDIDATES[candidate]
    x, y, r, Q, W, Wn, P, Pl = (g[k] for k in ("x", "y", "r", "Q", "W", "Wn", "P", "Pl"))
    zp, z, zn, lam, lamn = (g[k] for k in ("zp", "z", "zn", "lam", "lamn"))
    eps, eps_n = z - W * zp, zn - Wn * z
    e, e_n = lam + RHO * eps, lamn + RHO * eps_n
    steps, checks = [], {}

    # Forward: grad_{lam_l} L_rho = eps_l; induction hypothesis z_{l-1} = Q x.
    terms_lam = inner(lam, eps) + RHO / 2 * sq(eps)
    g_lam = trace_gradient(terms_lam, lam)
    checks["grad_lam_is_eps"] = is_zero_matexpr(g_lam - eps)
    ff = {zp: Q * x, z: W * Q * x}
    checks["forward_step"] = is_zero_matexpr(eps.xreplace(ff))
    steps.append(step("Forward induction. Only $\\langle\\lambda_l, \\epsilon_l\\rangle$ contains "
                      "$\\lambda_l$; its gradient, computed, is $\\epsilon_l$. Setting it to 0 with the "
                      "hypothesis $z_{l-1} = Q x$ ($Q = W_{l-1}\\cdots W_1$, $Q = I$ at $l = 1$) gives "
                      "$z_l = (W_l Q) x$, the hypothesis at $l$: $z$ is the feedforward pass.",
                      eq(r"\nabla_{\lambda_l} L_\rho", g_lam),
                      eq(r"z_l", W * Q * x)))

    # Backward: grad_{z_l} L_rho = e_l - W_{l+1}^T e_{l+1} (hidden l+1) or e_{L-1} - W_L^T eps_L.
    terms_z = inner(lam, eps) + RHO / 2 * sq(eps) + inner(lamn, eps_n) + RHO / 2 * sq(eps_n)
    g_z = trace_gradient(terms_z, z)
    checks["grad_z_is_local_rule"] = is_zero_matexpr(g_z - (e - Wn.T * e_n))
    WL = g["WL"]
    eps_out = y - WL * z
    terms_out = inner(lam, eps) + RHO / 2 * sq(eps) + sq(eps_out) / 2
    g_out = trace_gradient(terms_out, z)
    checks["grad_z_output_rule"] = is_zero_matexpr(g_out - (e - WL.T * eps_out))
    steps.append(step("Backward induction. The terms containing $z_l$ give, computed, "
                      "$\\nabla_{z_l} L_\\rho = e_l - W_{l+1}^T e_{l+1}$ "
                      "($e_l = \\lambda_l + \\rho\\epsilon_l$; at $l = L-1$ the output term gives "
                      "$e_{L-1} - W_L^T \\epsilon_L$). At $\\epsilon = 0$, $e = \\lambda$:",
                      eq(r"\nabla_{z_l} L_\rho", g_z),
                      eq(r"\nabla_{z_{L-1}} L_\rho", g_out)))
    # Base case l = L-1: lam_{L-1} = W_L^T eps_L with eps_L = r and P_{L-1} = W_L.
    base = (g_out.xreplace({lam: cand(WL, r), zp: Q * x, z: W * Q * x})
            .xreplace({y: r + WL * W * Q * x}))
    checks["base_case"] = is_zero_matexpr(base)
    # Step: lam_{l+1} = cand(P) with P = W_L..W_{l+2}  =>  lam_l = cand(P W_{l+1}).
    at_sol = {lam: cand(P * Wn, r), lamn: cand(P, r), zp: Q * x, z: W * Q * x, zn: Wn * W * Q * x}
    induction = g_z.xreplace(at_sol)
    checks["induction_step"] = is_zero_matexpr(induction)
    steps.append(step(f"Candidate `{candidate}`: $\\lambda_l = $ candidate$(P_l, r)$ with "
                      "$P_l = W_L \\cdots W_{l+1}$, $r = \\epsilon_L = y - W_L\\cdots W_1 x$. Residual of "
                      "the base case ($l = L-1$, $P_{L-1} = W_L$) and of the step ($P_l = P W_{l+1}$):",
                      eq(r"\text{base}", sp.expand(base.doit())),
                      eq(r"\text{step}", sp.expand(induction.doit()))))

    # BP: l = 1/2 |y - P_l W_l Q x|^2.
    r_expr = y - Pl * W * Q * x
    bp_grad_W = trace_gradient(sq(r_expr) / 2, W)
    bp_signal = -trace_gradient(sq(y - Pl * z) / 2, z).xreplace({z: W * Q * x})
    checks["multiplier_is_bp_signal"] = is_zero_matexpr((cand(Pl, r) - bp_signal).xreplace({r: r_expr}))
    terms_W = inner(lam, eps) + RHO / 2 * sq(eps)
    alm_grad_W = trace_gradient(terms_W, W)
    checks["weight_grad_is_local_rule"] = is_zero_matexpr(alm_grad_W + e * zp.T)
    hidden_diff = alm_grad_W.xreplace({lam: cand(Pl, r_expr), zp: Q * x, z: W * Q * x}) - bp_grad_W
    checks["hidden_weight_grad_equals_bp"] = is_zero_matexpr(hidden_diff)
    WLo = MatrixSymbol("W_L", NOUT, NPREV)
    out_diff = (trace_gradient(sq(y - WLo * zp) / 2, WLo).xreplace({zp: Q * x})
                - trace_gradient(sq(y - WLo * Q * x) / 2, WLo))
    checks["output_weight_grad_equals_bp"] = is_zero_matexpr(out_diff)
    steps.append(step("BP, computed from $l = \\frac12|y - P_l W_l Q x|^2$: the backward signal "
                      "$-\\partial l/\\partial z_l$ and the weight gradient; PC-ALM's weight gradient "
                      "$-e_l z_{l-1}^T$ at the solution minus BP's (hidden layer, output layer):",
                      eq(r"-\partial l/\partial z_l", bp_signal),
                      eq(r"\partial l/\partial W_l", bp_grad_W),
                      eq(r"\Delta_l", sp.expand(hidden_diff.doit())),
                      eq(r"\Delta_L", sp.expand(out_diff.doit()))))
    steps.append(step("Uniqueness: $A$ is invertible for every $L$ (see `block_kkt`), so "
                      "$Az = b$ fixes $z$ and $A^T\\lambda = C^T\\epsilon_L$ fixes $\\lambda$."))
    ok = all(checks.values())
    return DerivationResult(
        "c1_exact_bp_every_depth" + ("" if candidate == "bp" else f"_candidate_{candidate}"),
        "For every depth L, the saddle point of L_rho is the feedforward pass with lam_l = "
        "BP's backward signal, and PC-ALM's weight gradient there equals BP's (induction)",
        verdict(ok), {"candidate": candidate, **{k: str(v) for k, v in checks.items()}}, steps)


def _widths(depth: int) -> tuple[sp.Symbol, ...]:
    return sp.symbols(f"n_0:{depth + 1}", integer=True, positive=True)


def _chain(n, W, top: int, bottom: int) -> sp.MatrixExpr:
    """``W_top ... W_{bottom+1}`` (identity when top == bottom)."""
    out: sp.MatrixExpr = Identity(n[top])
    for k in range(top, bottom, -1):
        out = out * W[k]
    return out


def block_system(depth: int, candidate: str = "bp") -> dict[str, sp.MatrixExpr]:
    """``A``, its closed-form inverse, ``b``, ``C``, ``H`` and the candidate saddle point at ``depth``."""
    n = _widths(depth)
    W = [None] + [MatrixSymbol(f"W_{l}", n[l], n[l - 1]) for l in range(1, depth + 1)]
    x, y = MatrixSymbol("x", n[0], 1), MatrixSymbol("y", n[depth], 1)
    hidden = range(1, depth)
    A = BlockMatrix([[Identity(n[i]) if i == j else (-W[i] if i == j + 1 else ZeroMatrix(n[i], n[j]))
                      for j in hidden] for i in hidden])
    eye = BlockMatrix([[Identity(n[i]) if i == j else ZeroMatrix(n[i], n[j]) for j in hidden] for i in hidden])
    A_inv = BlockMatrix([[_chain(n, W, i, j) if i >= j else ZeroMatrix(n[i], n[j])
                          for j in hidden] for i in hidden])
    b = BlockMatrix([[W[1] * x if i == 1 else ZeroMatrix(n[i], 1)] for i in hidden])
    C = BlockMatrix([[W[depth] if j == depth - 1 else ZeroMatrix(n[depth], n[j]) for j in hidden]])
    H = block_collapse(C.T * C + RHO * A.T * A)
    r = y - _chain(n, W, depth, 0) * x
    z_star = BlockMatrix([[_chain(n, W, i, 0) * x] for i in hidden])
    lam_star = BlockMatrix([[CANDIDATES[candidate](_chain(n, W, depth, i), r)] for i in hidden])
    return {"I": eye, "A": A, "A_inv": A_inv, "b": b, "C": C, "H": H, "y": y, "z_star": z_star,
            "lam_star": lam_star, "r": r}


def block_kkt(depth: int, candidate: str = "bp") -> DerivationResult:
    """The KKT system of L_rho in block form at a given depth, and A's inverse for every L (C1).

    ``candidate`` names the multipliers tried (see :data:`CANDIDATES`); only ``"bp"`` solves it.
    """
    if depth < 2:
        raise ValueError("block form needs a hidden layer: depth >= 2")
    s = block_system(depth, candidate)
    A, A_inv, b, C, H, y = (s[k] for k in ("A", "A_inv", "b", "C", "H", "y"))
    z_star, lam_star = s["z_star"], s["lam_star"]
    checks = {}
    eye = s["I"]
    checks["A_times_inverse_is_identity"] = is_zero_matexpr(block_collapse(A * A_inv - eye))
    checks["inverse_times_A_is_identity"] = is_zero_matexpr(block_collapse(A_inv * A - eye))
    grad_z = block_collapse(H * z_star + A.T * lam_star - C.T * y - RHO * A.T * b)
    grad_lam = block_collapse(A * z_star - b)
    checks["grad_z_zero_at_candidate"] = is_zero_matexpr(grad_z)
    checks["grad_lam_zero_at_candidate"] = is_zero_matexpr(grad_lam)
    # Induction for A^{-1}: bordering A_{k+1} = [[A_k, 0], [E, I]].
    k, nn = sp.symbols("k n", integer=True, positive=True)
    Ak, E = MatrixSymbol("A_k", k, k), MatrixSymbol("E", nn, k)
    bordered = BlockMatrix([[Ak, ZeroMatrix(k, nn)], [E, Identity(nn)]])
    bordered_inv = BlockMatrix([[Ak.I, ZeroMatrix(k, nn)], [-E * Ak.I, Identity(nn)]])
    eye2 = BlockMatrix([[Identity(k), ZeroMatrix(k, nn)], [ZeroMatrix(nn, k), Identity(nn)]])
    checks["bordering_step"] = is_zero_matexpr(block_collapse(bordered * bordered_inv - eye2))
    steps = [
        step(f"Depth {depth}: constraint map $A = \\partial\\epsilon/\\partial z$ "
             "($\\epsilon = Az - b$), its closed-form inverse "
             "($(A^{-1})_{ij} = W_i \\cdots W_{j+1}$ for $i \\ge j$), $b$ and $C$:",
             eq("A", A), eq("A^{-1}", A_inv)),
        step("", eq("b", b), eq("C", C)),
        step("Hessian $H = C^TC + \\rho A^TA$:", eq("H", H)),
        step("KKT system $H z + A^T\\lambda = C^T y + \\rho A^T b$, $A z = b$ at the candidate "
             f"$z^*_l = W_l\\cdots W_1 x$ and the `{candidate}` multipliers; residuals:",
             eq(r"\nabla_z L_\rho", grad_z), eq(r"\nabla_\lambda L_\rho", grad_lam)),
        step("Every depth: $A_{k+1} = \\begin{pmatrix} A_k & 0 \\\\ E & I \\end{pmatrix}$ "
             "($E = (0,\\dots,0,-W_{k+1})$) has inverse "
             "$\\begin{pmatrix} A_k^{-1} & 0 \\\\ -E A_k^{-1} & I \\end{pmatrix}$ (product computed below), "
             "so by induction $A$ is invertible with $\\det A = 1$ for every $L$; the last block row "
             "$-E A_k^{-1} = W_{k+1}(A_k^{-1})_{k,\\cdot}$ gives the closed form.",
             eq("A_{k+1} A_{k+1}^{-1} - I", block_collapse(bordered * bordered_inv - eye2))),
    ]
    ok = all(checks.values())
    return DerivationResult(f"c1_block_kkt_depth{depth}" + ("" if candidate == "bp" else f"_candidate_{candidate}"),
                            f"Depth {depth} block form: A is invertible (closed-form inverse, every L by "
                            "bordering) and the feedforward pass with BP's multipliers solves the KKT system",
                            verdict(ok), {"depth": str(depth), "candidate": candidate, **{k: str(v) for k, v in checks.items()}},
                            steps)


def flow_stability_every_depth(depth: int, dual_sign: int = 1) -> DerivationResult:
    """C2 for every depth: ``J + J^T = diag(-2H, 0)`` with ``H`` positive definite (DESIGN section 4).

    Checked on general matrix symbols ``A``, ``C`` and on the block form at ``depth``;
    ``dual_sign = -1`` (flipped dual update) is the negative control.
    """
    k, nout = sp.symbols("m n_L", integer=True, positive=True)
    A, C = MatrixSymbol("A", k, k), MatrixSymbol("C", nout, k)
    u, w = MatrixSymbol("u", k, 1), MatrixSymbol("w", k, 1)
    H = C.T * C + RHO * A.T * A
    Z = ZeroMatrix(k, k)
    J = BlockMatrix([[-H, -A.T], [dual_sign * A, Z]])
    sym_part = block_collapse(J + J.T)
    target = BlockMatrix([[-2 * H, Z], [Z, Z]])
    checks = {"symmetric_part_general": is_zero_matexpr(block_collapse(sym_part - target))}
    v = BlockMatrix([[u], [w]])
    quad = block_collapse(v.T * sym_part * v)
    checks["quadratic_form"] = is_zero_matexpr(sp.expand((quad + 2 * u.T * H * u).doit()))
    checks["H_quadratic_form"] = is_zero_matexpr(
        (u.T * H * u - ((C * u).T * (C * u) + RHO * (A * u).T * (A * u))).doit().expand())
    s = block_system(depth)
    Ad, Hd = s["A"], s["H"]
    Zd = ZeroMatrix(*Ad.shape)
    Jd = BlockMatrix([[-Hd, -Ad.T], [dual_sign * Ad, Zd]])
    checks[f"symmetric_part_depth{depth}"] = is_zero_matexpr(
        block_collapse(Jd + Jd.T - BlockMatrix([[-2 * Hd, Zd], [Zd, Zd]])))
    steps = [
        step("Flow Jacobian and its symmetric part, computed with matrix symbols "
             f"(dual sign {dual_sign:+d}):",
             eq("J", J), eq("J + J^T", sym_part)),
        step("Quadratic forms, computed: $v^T(J+J^T)v$ for $v = (u, w)$, and $u^T H u = |Cu|^2 + "
             "\\rho|Au|^2 > 0$ for $u \\ne 0$ since $A$ is invertible (`block_kkt`) and $\\rho > 0$:",
             eq("v^T(J+J^T)v", quad.doit())),
        step("Eigenvalues: if $Jv = \\mu v$, $v = (u, w) \\ne 0$ complex, then "
             "$2\\,\\mathrm{Re}(\\mu)|v|^2 = v^*(J + J^T)v = -2u^*Hu$. If $u = 0$ the first block row "
             "gives $A^T w = 0$, so $w = 0$: impossible. Hence $u \\ne 0$, $u^*Hu > 0$ and "
             "$\\mathrm{Re}(\\mu) < 0$ for every $L$ and every $\\rho > 0$. The same identity, checked on "
             f"the depth-{depth} blocks:",
             eq("J + J^T", block_collapse(Jd + Jd.T))),
    ]
    ok = all(checks.values())
    return DerivationResult(
        "c2_flow_every_depth" + ("" if dual_sign == 1 else "_dual_sign_flipped"),
        "For every depth, the primal-dual flow Jacobian [[-H, -A^T], [A, 0]] has symmetric part "
        "diag(-2H, 0) with H positive definite, so all its eigenvalues have negative real part",
        verdict(ok), {"dual_sign": str(dual_sign), **{k: str(v) for k, v in checks.items()}}, steps)
