"""Stacking per-layer hidden arrays into one per-sample vector and back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Array = np.ndarray


def hidden_sizes(weights: Sequence[Array]) -> list[int]:
    """Widths ``[n_1..n_{L-1}]`` of the hidden layers (empty for depth L = 1)."""
    return [w.shape[0] for w in weights[:-1]]


def stack(parts: Sequence[Array], batch: int) -> Array:
    """Concatenate hidden arrays ``(B, n_l)`` into ``(B, n_1 + ... + n_{L-1})``."""
    if not parts:
        return np.zeros((batch, 0))
    return np.concatenate(parts, axis=1)


def unstack(flat: Array, sizes: Sequence[int]) -> list[Array]:
    """Split ``(B, sum(sizes))`` back into per-layer arrays ``(B, n_l)``."""
    return list(np.split(flat, np.cumsum(sizes)[:-1], axis=1)) if sizes else []
