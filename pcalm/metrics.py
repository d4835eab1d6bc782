"""Comparisons between gradients: cosine similarity, overall and per layer."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def gradient_cosine(grads: list[Tensor], reference: list[Tensor]) -> float:
    """cos(g, g_ref) of the concatenation of all layers' gradients (0 if either is zero)."""
    a = torch.cat([g.reshape(-1) for g in grads]).double()
    b = torch.cat([g.reshape(-1) for g in reference]).double()
    denominator = a.norm() * b.norm()
    return float(a @ b / denominator) if denominator > 0 else 0.0


def layer_cosines(grads: list[Tensor], reference: list[Tensor]) -> list[float]:
    """Per-layer cos(g_l, g_ref_l)."""
    return [gradient_cosine([g], [r]) for g, r in zip(grads, reference)]
