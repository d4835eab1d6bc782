"""Matrix calculus on SymPy matrix symbols, for the general-depth derivations.

SymPy 1.14 returns 0 for the derivative, with respect to a ``MatrixSymbol``, of a *sum* of
traces, though it differentiates each trace correctly; :func:`trace_gradient` therefore
differentiates term by term.
"""

from __future__ import annotations

import sympy as sp
from sympy import BlockMatrix, MatrixExpr, Trace


def sq(v: MatrixExpr) -> sp.Expr:
    """``|v|^2 = Tr(v^T v)`` for a column ``v``."""
    return Trace(v.T * v)


def inner(a: MatrixExpr, b: MatrixExpr) -> sp.Expr:
    """``<a, b> = Tr(a^T b)``."""
    return Trace(a.T * b)


def trace_gradient(expr: sp.Expr, X: sp.MatrixSymbol) -> MatrixExpr:
    """``d expr / d X`` for a scalar sum of (scaled) traces, differentiated term by term."""
    terms = [t.diff(X) for t in sp.Add.make_args(sp.expand(expr))]
    nonzero = [t for t in terms if not (t == 0 or getattr(t, "is_ZeroMatrix", False))]
    return sp.MatAdd(*nonzero).doit() if nonzero else sp.ZeroMatrix(*X.shape)


def is_zero_matexpr(expr: MatrixExpr | sp.Expr) -> bool:
    """True iff ``expr`` (a matrix expression, possibly block) reduces to zero.

    Block matrices are checked block by block; other expressions after ``doit`` and
    ``expand``, which cancel equal terms of a sum of products.
    """
    if isinstance(expr, BlockMatrix):
        return all(is_zero_matexpr(b) for b in expr.blocks)
    reduced = sp.expand(expr.doit()) if hasattr(expr, "doit") else sp.expand(expr)
    if isinstance(reduced, BlockMatrix):
        return is_zero_matexpr(reduced)
    return reduced == 0 or bool(getattr(reduced, "is_ZeroMatrix", False))
