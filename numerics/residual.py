"""The paper's residual MLP with phi = identity as a linear network (DESIGN section 1).

``mu_1 = s_in x W_1^T``, ``mu_l = z_{l-1} + s_h z_{l-1} W_l^T``, ``mu_L = s_out z_{L-1} W_L^T``
with ``s_in = 1/sqrt(n_0)``, ``s_h = 1/sqrt(N L)``, ``s_out = 1/N`` (N the hidden width), i.e. a
plain linear net with effective weights ``s_in W_1``, ``I + s_h W_l``, ``s_out W_L``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Array = np.ndarray


def residual_scales(weights: Sequence[Array]) -> list[float]:
    """Per-layer multipliers ``[s_in, s_h, ..., s_h, s_out]`` of the residual MLP (depth L >= 2)."""
    depth = len(weights)
    if depth < 2:
        raise ValueError("the residual MLP needs an input and a read-out layer (L >= 2)")
    width = weights[0].shape[0]
    s_in = 1.0 / np.sqrt(weights[0].shape[1])
    s_h = 1.0 / np.sqrt(width * depth)
    return [s_in] + [s_h] * (depth - 2) + [1.0 / width]


def residual_effective_weights(weights: Sequence[Array]) -> list[Array]:
    """Effective linear weights ``[s_in W_1, I + s_h W_2, ..., I + s_h W_{L-1}, s_out W_L]``."""
    scales = residual_scales(weights)
    eff = [s * w for s, w in zip(scales, weights)]
    for l in range(1, len(weights) - 1):
        eff[l] = eff[l] + np.eye(weights[l].shape[0])
    return eff


def residual_weight_grads(effective_grads: Sequence[Array], weights: Sequence[Array]) -> list[Array]:
    """Chain rule back to the raw residual weights: ``dL/dW_l = s_l dL/dW_eff_l``."""
    return [s * g for s, g in zip(residual_scales(weights), effective_grads)]
