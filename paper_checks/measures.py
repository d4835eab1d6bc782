"""Relative error of per-layer gradient lists (NumPy) and a NaN-keeping worst case for verdicts
(cosines: :func:`pcalm.engine.metrics.gradient_cosine`, which takes arrays too)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def _flat(arrays: Sequence) -> np.ndarray:
    return np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])


def relative_error(actual: Sequence, expected: Sequence) -> float:
    """||a - b|| / ||b|| over all layers concatenated."""
    a, b = _flat(actual), _flat(expected)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def worst(values: Iterable[float]) -> float:
    """The largest value, NaN if any is NaN (Python's max() can skip a NaN, and a criterion
    judged on it would then pass)."""
    return float(np.max(np.asarray(list(values), dtype=float)))
