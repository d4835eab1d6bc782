"""Exact equilibria of PC and PC-ALM in linear networks (DESIGN sections 2-3).

Both are linear systems in the unknowns; :func:`sympy.linsolve` solves them exactly and tells
whether the solution is unique (no unknown left free).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from theory.network import SymbolicNet
from theory.objectives import augmented_lagrangian, gradient, pc_energy


@dataclass(frozen=True)
class Equilibrium:
    """Solved activities ``z_1..z_{L-1}`` and multipliers ``lam_1..lam_{L-1}``."""

    z: tuple[sp.Matrix, ...]
    lam: tuple[sp.Matrix, ...]
    unique: bool
    equations: tuple[sp.Expr, ...]


def _solve(equations: list[sp.Expr], unknowns: list[sp.Symbol]) -> tuple[dict, bool]:
    if not unknowns:
        return {}, True
    solutions = sp.linsolve(equations, unknowns)
    if solutions == sp.S.EmptySet:
        return {}, False
    (values,) = tuple(solutions)
    unique = not any(v.has(*unknowns) for v in values)
    return {u: sp.cancel(v) for u, v in zip(unknowns, values)}, unique


def _as_blocks(sol: dict, blocks: tuple[sp.Matrix, ...]) -> tuple[sp.Matrix, ...]:
    return tuple(b.applyfunc(lambda s: sol.get(s, s)) for b in blocks)


def saddle_point(net: SymbolicNet) -> Equilibrium:
    """Solve ``grad_z L_rho = 0`` and ``grad_lam L_rho = 0`` exactly (DESIGN section 3, C1)."""
    L_rho = augmented_lagrangian(net)
    eqs = [g for zl in net.z for g in gradient(L_rho, zl)]
    eqs += [g for ll in net.lam for g in gradient(L_rho, ll)]
    sol, unique = _solve(eqs, net.z_symbols() + net.lam_symbols())
    return Equilibrium(_as_blocks(sol, net.z), _as_blocks(sol, net.lam), unique, tuple(eqs))


def pc_equilibrium(net: SymbolicNet) -> Equilibrium:
    """Solve ``grad_z F = 0`` exactly, ``F`` PC's energy (DESIGN section 2, C3); ``lam = 0``."""
    F = pc_energy(net)
    eqs = [g for zl in net.z for g in gradient(F, zl)]
    sol, unique = _solve(eqs, net.z_symbols())
    zeros = tuple(sp.zeros(*ll.shape) for ll in net.lam)
    return Equilibrium(_as_blocks(sol, net.z), zeros, unique, tuple(eqs))
