"""Matrices of a linear, bias-free network, per sample (DESIGN sections 3 and 4, claim C2).

Stack the hidden activities of one sample as ``z = [z_1; ...; z_{L-1}]`` (size n). Then
``eps_hidden = A z - c`` with ``c = [W_1 x; 0; ...]`` and ``eps_L = y - D z``, so that

    L_rho(z, lam) = 1/2 ||y - D z||^2 + <lam, A z - c> + rho/2 ||A z - c||^2    (per sample)

``A`` (the constraint map) is unit block lower-bidiagonal with ``-W_l`` below the diagonal,
hence invertible; ``D = [0 ... 0 W_L]``; the activity Hessian is ``H = rho A^T A + D^T D``
(positive definite for rho > 0); the KKT matrix of the saddle point is ``[[H, A^T], [A, 0]]``.
Samples do not interact, so every batch shares these matrices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from numerics.layout import hidden_sizes

Array = np.ndarray


def constraint_matrix(weights: Sequence[Array]) -> sp.csr_matrix:
    """``A`` with ``(A z)_1 = z_1``, ``(A z)_l = z_l - W_l z_{l-1}`` (l = 2..L-1): the constraint map."""
    sizes = hidden_sizes(weights)
    blocks: list[list[sp.spmatrix | None]] = [[None] * len(sizes) for _ in sizes]
    for l, n in enumerate(sizes):
        blocks[l][l] = sp.identity(n)
        if l > 0:
            blocks[l][l - 1] = -sp.csr_matrix(weights[l])
    return sp.csr_matrix(sp.block_array(blocks)) if sizes else sp.csr_matrix((0, 0))


def readout_matrix(weights: Sequence[Array]) -> sp.csr_matrix:
    """``D = [0 ... 0 W_L]`` of shape (n_L, n): ``eps_L = y - D z``."""
    sizes = hidden_sizes(weights)
    if not sizes:
        return sp.csr_matrix((weights[-1].shape[0], 0))
    before = sum(sizes[:-1])
    return sp.csr_matrix(sp.hstack([sp.csr_matrix((weights[-1].shape[0], before)), sp.csr_matrix(weights[-1])]))


def activity_hessian(weights: Sequence[Array], rho: float = 1.0) -> sp.csr_matrix:
    """Per-sample Hessian of L_rho in z: ``H = rho A^T A + D^T D`` (DESIGN C2)."""
    a = constraint_matrix(weights)
    d = readout_matrix(weights)
    return sp.csr_matrix(rho * (a.T @ a) + d.T @ d)


def kkt_matrix(weights: Sequence[Array], rho: float = 1.0) -> sp.csc_matrix:
    """Per-sample KKT matrix ``[[H, A^T], [A, 0]]`` of the saddle point of L_rho (DESIGN C1)."""
    a = constraint_matrix(weights)
    return sp.csc_matrix(sp.block_array([[activity_hessian(weights, rho), a.T], [a, None]]))
