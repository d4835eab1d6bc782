"""Hand-written closed forms for the scalar chain, typed from DESIGN sections 2-4 (not from theory/)."""

import sympy as sp


def chain_symbols(depth):
    w = [sp.Symbol(f"w_{l}", real=True) for l in range(1, depth + 1)]
    return w, sp.Symbol("x", real=True), sp.Symbol("y", real=True), sp.Symbol("rho", positive=True)


def residual(depth):
    """r = y - w_L ... w_1 x."""
    w, x, y, _ = chain_symbols(depth)
    return y - sp.Mul(*w) * x


def bp_signal(depth, l):
    """lam_l = w_{l+1} ... w_L r (BP's backward signal, DESIGN C1)."""
    w, _, _, _ = chain_symbols(depth)
    return sp.Mul(*w[l:]) * residual(depth)


def s_scalar(depth):
    """S = 1 + sum_{l=2}^{L} prod_{j >= l} w_j^2 (DESIGN section 2)."""
    w, _, _, _ = chain_symbols(depth)
    return 1 + sum(sp.Mul(*w[l - 1:]) ** 2 for l in range(2, depth + 1))
