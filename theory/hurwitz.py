"""Routh-Hurwitz determinants and exact positivity certificates (claim C2, DESIGN section 4).

A real polynomial ``a_0 s^n + a_1 s^{n-1} + ... + a_n`` with ``a_0 > 0`` has every root in the
open left half-plane iff all leading principal minors ``Delta_1..Delta_n`` of its Hurwitz
matrix are positive (Routh-Hurwitz). Here the minors are polynomials in positive variables
(``rho`` and the squared weights), and positivity is proved by an AM-GM certificate:

    Delta = sum_i c_i (t_i m1_i + (1 - t_i) m2_i - m_i) + R,

each bracket a weighted AM-GM inequality ``t X + (1-t) Y >= X^t Y^(1-t)`` between monomials
(``m_i = m1_i^t_i m2_i^(1-t_i)``, so the bracket is >= 0 for positive variables) and ``R`` a
non-zero polynomial with non-negative coefficients (so ``R > 0``). The search is greedy; the
certificate is verified exactly by :meth:`PositivityCertificate.verify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd

import sympy as sp
from sympy.polys.matrices import DomainMatrix

Monomial = tuple[int, ...]


def hurwitz_matrix(coeffs: list[sp.Expr]) -> sp.Matrix:
    """The n x n Hurwitz matrix ``H_ij = a_{2j - i}`` (1-based; 0 outside 0..n) of ``coeffs = [a_0..a_n]``."""
    n = len(coeffs) - 1
    return sp.Matrix(n, n, lambda i, j: coeffs[2 * (j + 1) - (i + 1)]
                     if 0 <= 2 * (j + 1) - (i + 1) <= n else 0)


def hurwitz_determinants(coeffs: list[sp.Expr], gens: tuple[sp.Symbol, ...]) -> list[sp.Expr]:
    """``[Delta_1, ..., Delta_n]``, the leading principal minors of the Hurwitz matrix.

    Computed fraction-free over the polynomial ring ``QQ[gens]``.
    """
    ring = sp.QQ[gens]
    M = DomainMatrix.from_Matrix(hurwitz_matrix(coeffs)).convert_to(ring)
    n = M.shape[0]
    return [sp.expand(ring.to_sympy(M[:k, :k].det())) for k in range(1, n + 1)]


@dataclass(frozen=True)
class AmGmBound:
    """``c (t m1 + (1 - t) m2 - m) >= 0`` for positive variables, with ``m = t m1 + (1-t) m2`` in exponents."""

    c: Fraction
    t: Fraction
    m1: Monomial
    m2: Monomial
    m: Monomial


@dataclass(frozen=True)
class PositivityCertificate:
    """Proof that ``expr > 0`` whenever every generator is positive."""

    expr: sp.Expr
    gens: tuple[sp.Symbol, ...]
    bounds: tuple[AmGmBound, ...]

    def _monomial(self, exps: Monomial) -> sp.Expr:
        return sp.Mul(*(g ** e for g, e in zip(self.gens, exps)))

    def inequalities(self) -> list[sp.Expr]:
        """The AM-GM bounds as ``c t m1 + c (1-t) m2 >= c m`` relations, for display."""
        out = []
        for b in self.bounds:
            c, t = sp.Rational(b.c.numerator, b.c.denominator), sp.Rational(b.t.numerator, b.t.denominator)
            out.append(sp.Ge(c * t * self._monomial(b.m1) + c * (1 - t) * self._monomial(b.m2),
                             c * self._monomial(b.m), evaluate=False))
        return out

    def remainder(self) -> sp.Expr:
        """``R = expr - sum of the AM-GM brackets``."""
        brackets = sum((sp.Rational(b.c.numerator, b.c.denominator)
                        * (sp.Rational(b.t.numerator, b.t.denominator) * self._monomial(b.m1)
                           + sp.Rational((1 - b.t).numerator, (1 - b.t).denominator)
                           * self._monomial(b.m2) - self._monomial(b.m))
                        for b in self.bounds), sp.Integer(0))
        return sp.expand(self.expr - brackets)

    def verify(self) -> bool:
        """Check every bound is a valid AM-GM instance and the remainder is a non-zero
        polynomial with non-negative coefficients."""
        for b in self.bounds:
            if not (0 < b.t < 1 and b.c > 0):
                return False
            if any(Fraction(e) != b.t * e1 + (1 - b.t) * e2 for e, e1, e2 in zip(b.m, b.m1, b.m2)):
                return False
        R = sp.Poly(self.remainder(), *self.gens)
        return not R.is_zero and all(c >= 0 for c in R.coeffs())


def _segment_pairs(m: Monomial, support: list[Monomial]) -> list[tuple[Monomial, Monomial, Fraction]]:
    """Pairs (m1, m2) of support monomials with m strictly inside the segment [m1, m2]."""
    by_direction: dict[Monomial, list[tuple[Monomial, int]]] = {}
    for m1 in support:
        d = tuple(a - b for a, b in zip(m, m1))
        g = 0
        for v in d:
            g = gcd(g, abs(v))
        if g:
            by_direction.setdefault(tuple(v // g for v in d), []).append((m1, g))
    pairs = []
    for direction, starts in by_direction.items():
        ends = by_direction.get(tuple(-v for v in direction), [])
        for m1, g1 in starts:
            for m2, g2 in ends:
                pairs.append((m1, m2, Fraction(g2, g1 + g2)))
    return pairs


def amgm_certificate(expr: sp.Expr, gens: tuple[sp.Symbol, ...]) -> PositivityCertificate | None:
    """Search an AM-GM certificate that ``expr > 0`` for positive ``gens``; None if not found.

    Each negative term ``-c m`` is covered greedily (fewest candidate pairs first) by positive
    terms ``m1``, ``m2`` on a segment through ``m``, spending ``t c`` of ``m1`` and
    ``(1 - t) c`` of ``m2``.
    """
    poly = sp.Poly(sp.expand(expr), *gens)
    terms = {m: Fraction(int(c.p), int(c.q)) for m, c in poly.terms()}
    budget = {m: c for m, c in terms.items() if c > 0}
    deficits = {m: -c for m, c in terms.items() if c < 0}
    pairs = {m: _segment_pairs(m, list(budget)) for m in deficits}
    bounds = []
    for m in sorted(deficits, key=lambda k: (len(pairs[k]), k)):
        need = deficits[m]
        while need > 0:
            best = None
            for m1, m2, t in pairs[m]:
                capacity = min(budget[m1] / t, budget[m2] / (1 - t))
                if capacity > 0 and (best is None or capacity > best[0]):
                    best = (capacity, m1, m2, t)
            if best is None:
                return None
            capacity, m1, m2, t = best
            c = min(need, capacity)
            budget[m1] -= t * c
            budget[m2] -= (1 - t) * c
            need -= c
            bounds.append(AmGmBound(c, t, m1, m2, m))
    certificate = PositivityCertificate(sp.expand(expr), tuple(gens), tuple(bounds))
    return certificate if certificate.verify() else None
