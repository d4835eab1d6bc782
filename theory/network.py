"""Linear networks with fully symbolic entries (DESIGN section 1).

One sample (B = 1), written as column vectors: the batch-first row ``x`` of DESIGN is
``x^T`` here, and ``mu_l = W_l z_{l-1}``. A batch mean of B samples sums B copies of every
expression below and divides by B, so each identity proved per sample holds for the batch
mean as well (each sample's activities and multipliers are independent unknowns).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class SymbolicNet:
    """A bias-free linear network ``x -> W_1 -> ... -> W_L`` with symbolic entries.

    ``W[l-1]`` is ``W_l`` of shape ``(n_l, n_{l-1})``; ``z[l-1]`` and ``lam[l-1]`` are the free
    hidden activity ``z_l`` and multiplier ``lam_l`` (l = 1..L-1), each ``(n_l, 1)``.
    """

    widths: tuple[int, ...]
    W: tuple[sp.Matrix, ...]
    x: sp.Matrix
    y: sp.Matrix
    z: tuple[sp.Matrix, ...]
    lam: tuple[sp.Matrix, ...]
    rho: sp.Symbol

    @property
    def depth(self) -> int:
        """L, the number of weight layers."""
        return len(self.W)

    def weight_symbols(self) -> list[sp.Symbol]:
        """All weight entries, layer by layer, row-major."""
        return [s for Wl in self.W for s in Wl]

    def z_symbols(self) -> list[sp.Symbol]:
        """All hidden-activity unknowns z_1..z_{L-1}."""
        return [s for zl in self.z for s in zl]

    def lam_symbols(self) -> list[sp.Symbol]:
        """All multiplier unknowns lam_1..lam_{L-1}."""
        return [s for ll in self.lam for s in ll]


def _vector(name: str, n: int) -> sp.Matrix:
    if n == 1:
        return sp.Matrix([[sp.Symbol(name, real=True)]])
    return sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"{name}_{i + 1}", real=True))


def _weight(layer: int, rows: int, cols: int) -> sp.Matrix:
    if rows == cols == 1:
        return sp.Matrix([[sp.Symbol(f"w_{layer}", real=True)]])
    return sp.Matrix(rows, cols,
                     lambda i, j: sp.Symbol(f"W{layer}_{i + 1}{j + 1}", real=True))


def linear_net(widths: list[int] | tuple[int, ...]) -> SymbolicNet:
    """The symbolic linear network with layer widths ``n_0..n_L`` (DESIGN section 1).

    Scalar layers get plain names (``w_l``, ``x``, ``z_l``, ``lambda_l``), so a chain of
    width-1 layers reads as the scalar chain of the paper.
    """
    widths = tuple(int(n) for n in widths)
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"need at least one layer of positive widths, got {widths}")
    L = len(widths) - 1
    W = tuple(_weight(l, widths[l], widths[l - 1]) for l in range(1, L + 1))
    z = tuple(_vector(f"z_{l}" if widths[l] == 1 else f"z{l}", widths[l]) for l in range(1, L))
    lam = tuple(_vector(f"lambda_{l}" if widths[l] == 1 else f"lambda{l}", widths[l])
                for l in range(1, L))
    return SymbolicNet(widths=widths, W=W, x=_vector("x", widths[0]), y=_vector("y", widths[-1]),
                       z=z, lam=lam, rho=sp.Symbol("rho", positive=True))


def scalar_chain(depth: int) -> SymbolicNet:
    """The scalar chain of ``depth`` weights w_1..w_L (DESIGN sections 2-4, claim C1-C3)."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    return linear_net([1] * (depth + 1))
