"""Comparisons between gradients: cosine similarity, overall and per layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray]


def gradient_cosine(grads: Sequence[ArrayLike], reference: Sequence[ArrayLike]) -> float:
    """cos(g, g_ref) of the concatenation of all layers' gradients (0 if either is zero);
    layers may be tensors or NumPy arrays."""
    a = torch.cat([torch.as_tensor(g).reshape(-1) for g in grads]).double()
    b = torch.cat([torch.as_tensor(g).reshape(-1) for g in reference]).double()
    denominator = a.norm() * b.norm()
    return float(a @ b / denominator) if denominator > 0 else 0.0


def layer_cosines(grads: Sequence[ArrayLike], reference: Sequence[ArrayLike]) -> list[float]:
    """Per-layer cos(g_l, g_ref_l)."""
    return [gradient_cosine([g], [r]) for g, r in zip(grads, reference)]
