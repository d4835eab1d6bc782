"""Complex-step derivatives: exact-to-roundoff gradients of analytic scalar functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Array = np.ndarray


def complex_step_gradient(f: Callable[[list[Array]], complex], arrays: Sequence[Array], h: float = 1e-30) -> list[Array]:
    """Complex-step derivatives ``Im f(a + i h e_j) / h`` of an analytic scalar ``f(arrays)``
    with respect to every entry; no subtractive cancellation, so accurate to roundoff in f.
    Used for grad F* (DESIGN section 2, C3) from ``pc_free_energy``."""
    base = [np.asarray(a).astype(complex) for a in arrays]
    out = []
    for arr in base:
        g = np.zeros(arr.shape)
        for idx in np.ndindex(arr.shape):
            arr[idx] += 1j * h
            g[idx] = np.imag(f(base)) / h
            arr[idx] -= 1j * h
        out.append(g)
    return out
