"""Exact zero tests and non-zero witnesses for the verdicts of the derivations."""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp


def is_zero(expr: sp.Expr | sp.MatrixBase) -> bool:
    """True iff ``expr`` (a rational function or a matrix of them) is identically zero.

    ``sympy.cancel`` brings a rational function to a canonical ``p/q`` with ``p``, ``q``
    expanded polynomials, so the result is 0 exactly when the expression is.
    """
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e) for e in expr)
    return sp.cancel(sp.together(expr)) == 0


def probe_points(symbols: Iterable[sp.Symbol], count: int = 4) -> list[dict[sp.Symbol, sp.Rational]]:
    """Deterministic rational points (positive values for positive symbols) to look for witnesses."""
    symbols = sorted(set(symbols), key=str)
    points = []
    for k in range(count):
        point = {}
        for i, s in enumerate(symbols):
            value = sp.Rational(i + k + 2, k + 1 + (i % 3))
            if not s.is_positive and (i + k) % 2:
                value = -value
            point[s] = value
        points.append(point)
    return points


def nonzero_witness(expr: sp.Expr | sp.MatrixBase) -> dict[str, str] | None:
    """A rational point where ``expr`` is exactly non-zero, or None if the probes miss.

    The returned dict holds the point and the value there: a proof that ``expr`` is not
    identically zero.
    """
    entries = list(expr) if isinstance(expr, sp.MatrixBase) else [expr]
    free = set().union(*(sp.sympify(e).free_symbols for e in entries))
    for point in probe_points(free):
        for e in entries:
            value = sp.sympify(e).xreplace(point)
            if value.is_Rational and value != 0:
                return {"point": str(point), "value": str(value)}
    return None
