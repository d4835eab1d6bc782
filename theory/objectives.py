"""Energies of DESIGN sections 2-3 as SymPy expressions, with their local update rules.

Single sample (B = 1, see :mod:`theory.network`). ``L_rho`` is the one energy definition:
PC's energy F is ``L_rho`` with ``lam = 0`` and ``rho = 1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from theory.network import SymbolicNet

Activities = Sequence[sp.Matrix]


def _sq(v: sp.Matrix) -> sp.Expr:
    return (v.T * v)[0, 0]


def feedforward(net: SymbolicNet) -> list[sp.Matrix]:
    """The feedforward pass ``z_l = W_l ... W_1 x`` for l = 1..L (DESIGN section 1)."""
    out, h = [], net.x
    for Wl in net.W:
        h = Wl * h
        out.append(h)
    return out


def hidden_errors(net: SymbolicNet, z: Activities | None = None) -> list[sp.Matrix]:
    """``eps_l = z_l - W_l z_{l-1}`` for hidden l = 1..L-1 (DESIGN section 1), ``z_0 = x``."""
    zz = [net.x, *(net.z if z is None else z)]
    return [zz[l] - net.W[l - 1] * zz[l - 1] for l in range(1, net.depth)]


def output_error(net: SymbolicNet, z: Activities | None = None) -> sp.Matrix:
    """``eps_L = y - W_L z_{L-1}`` (DESIGN section 1)."""
    zz = [net.x, *(net.z if z is None else z)]
    return net.y - net.W[-1] * zz[-1]


def augmented_lagrangian(net: SymbolicNet, lam: Activities | None = None,
                         rho: sp.Expr | None = None, z: Activities | None = None) -> sp.Expr:
    """``L_rho = 1/2 |eps_L|^2 + sum_l (<lam_l, eps_l> + rho/2 |eps_l|^2)`` (DESIGN section 3).

    ``lam`` defaults to the symbolic multipliers, ``rho`` to the positive symbol ``rho``.
    """
    lam = net.lam if lam is None else lam
    rho = net.rho if rho is None else rho
    energy = _sq(output_error(net, z)) / 2
    for eps_l, lam_l in zip(hidden_errors(net, z), lam):
        energy += (lam_l.T * eps_l)[0, 0] + rho * _sq(eps_l) / 2
    return energy


def pc_energy(net: SymbolicNet, z: Activities | None = None) -> sp.Expr:
    """PC's energy ``F = 1/2 |eps_L|^2 + sum_l 1/2 |eps_l|^2`` (DESIGN section 2, rho = 1)."""
    zeros = [sp.zeros(*zl.shape) for zl in net.z]
    return augmented_lagrangian(net, lam=zeros, rho=sp.Integer(1), z=z)


def bp_loss(net: SymbolicNet) -> sp.Expr:
    """BP's loss ``l = 1/2 |y - W_L ... W_1 x|^2`` (DESIGN section 1, B = 1)."""
    return _sq(net.y - feedforward(net)[-1]) / 2


def gradient(expr: sp.Expr, variables: sp.Matrix) -> sp.Matrix:
    """Entry-wise derivative of a scalar ``expr``, shaped like ``variables``."""
    return variables.applyfunc(lambda v: sp.diff(expr, v))


def weight_gradients(expr: sp.Expr, net: SymbolicNet) -> list[sp.Matrix]:
    """``[d expr / d W_1, ..., d expr / d W_L]``."""
    return [gradient(expr, Wl) for Wl in net.W]


def effective_errors(net: SymbolicNet) -> list[sp.Matrix]:
    """``e_l = lam_l + rho eps_l`` (hidden), ``e_L = eps_L`` (DESIGN section 3)."""
    hidden = [lam_l + net.rho * eps_l for lam_l, eps_l in zip(net.lam, hidden_errors(net))]
    return [*hidden, output_error(net)]


def local_activity_gradients(net: SymbolicNet) -> list[sp.Matrix]:
    """The local rule ``dL_rho/dz_l = e_l - W_{l+1}^T e_{l+1}`` (DESIGN section 3)."""
    e = effective_errors(net)
    return [e[l - 1] - net.W[l].T * e[l] for l in range(1, net.depth)]


def local_weight_gradients(net: SymbolicNet) -> list[sp.Matrix]:
    """The local rule ``dL_rho/dW_l = -e_l z_{l-1}^T`` (DESIGN sections 2-3, B = 1)."""
    zz = [net.x, *net.z]
    return [-e_l * zz[l].T for l, e_l in enumerate(effective_errors(net))]


def bp_backward_signals(net: SymbolicNet) -> list[sp.Matrix]:
    """BP's backward signals ``-dl/dz_l`` at the feedforward pass, l = 1..L-1 (claim C1).

    Computed from the loss alone: the output as a function of ``z_l`` is
    ``W_L ... W_{l+1} z_l``; differentiate, then put ``z_l`` at its feedforward value.
    """
    ff = feedforward(net)
    signals = []
    for l in range(1, net.depth):
        h = net.z[l - 1]
        for Wk in net.W[l:]:
            h = Wk * h
        loss_from_z = _sq(net.y - h) / 2
        at_ff = dict(zip(net.z[l - 1], ff[l - 1]))
        signals.append((-gradient(loss_from_z, net.z[l - 1])).subs(at_ff))
    return signals
