"""Hurwitz minors and AM-GM positivity certificates."""

import dataclasses
from fractions import Fraction

import sympy as sp

from theory.hurwitz import amgm_certificate, hurwitz_determinants, hurwitz_matrix

a0, a1, a2, a3 = sp.symbols("a0:4")
p, q = sp.symbols("p q", positive=True)


def test_hurwitz_matrix_of_a_cubic_is_the_textbook_one():
    expected = sp.Matrix([[a1, a3, 0], [a0, a2, 0], [0, a1, a3]])
    assert hurwitz_matrix([a0, a1, a2, a3]) == expected


def test_hurwitz_minors_of_a_cubic():
    d1, d2, d3 = hurwitz_determinants([sp.Integer(1), p, q, sp.Integer(1)], (p, q))
    assert sp.expand(d1 - p) == 0
    assert sp.expand(d2 - (p * q - 1)) == 0
    assert sp.expand(d3 - (p * q - 1)) == 0


def test_certificate_for_a_positive_polynomial_with_a_negative_term():
    expr = p**2 - p * q + q**2 + p
    cert = amgm_certificate(expr, (p, q))
    assert cert is not None and cert.verify()
    assert len(cert.bounds) == 1
    # Unequal weights: p^3 + q^3 >= p^2 q needs t = 2/3 on p^3.
    cert2 = amgm_certificate(p**3 + q**3 - p**2 * q, (p, q))
    assert cert2 is not None and cert2.bounds[0].t in (Fraction(2, 3), Fraction(1, 3))


def test_no_certificate_for_a_polynomial_negative_somewhere():
    assert amgm_certificate(p**2 - 3 * p * q + q**2, (p, q)) is None
    assert amgm_certificate(p * q - 1, (p, q)) is None


def test_tampered_certificate_is_rejected():
    cert = amgm_certificate(p**2 - p * q + q**2 + p, (p, q))
    bound = cert.bounds[0]
    too_strong = dataclasses.replace(cert, bounds=(dataclasses.replace(bound, c=bound.c * 3),))
    assert not too_strong.verify()
    off_segment = dataclasses.replace(cert, bounds=(dataclasses.replace(bound, t=Fraction(1, 3)),))
    assert not off_segment.verify()
