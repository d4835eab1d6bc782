"""Backpropagation in NumPy: the reference the equilibria are compared with (DESIGN claim C1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from numerics.activations import activation
from numerics.energy import feedforward
from numerics.serialise import JSONResult

Array = np.ndarray


@dataclass
class BPResult(JSONResult):
    """BP's loss, weight gradients and backward signals.

    ``backward_signals[l-1] = -B dl/dz_l`` for hidden l = 1..L-1 (``z_l`` the pre-activation
    ``h_l``); ``output_error = y - y_hat``. DESIGN C1 says PC-ALM's multipliers equal the former.
    """

    loss: float
    weight_grads: list[Array]
    backward_signals: list[Array]
    output_error: Array


def bp_gradients(
    weights: Sequence[Array], x: Array, y: Array, activation_name: str = "linear"
) -> BPResult:
    """Gradient of the batch-mean loss ``l = 1/(2B) sum_b ||y_b - y_hat_b||^2`` (DESIGN section 1)
    by the chain rule: ``g_L = y - y_hat``, ``g_l = (g_{l+1} W_{l+1}) * phi'(h_l)``,
    ``dl/dW_l = -(1/B) g_l^T a_{l-1}`` with ``a_0 = x``, ``a_l = phi(h_l)``."""
    phi, dphi = activation(activation_name)
    h = feedforward(weights, x, activation_name)
    batch = x.shape[0]
    g = [y - h[-1]]
    for l in range(len(weights) - 2, -1, -1):
        g.insert(0, (g[0] @ weights[l + 1]) * dphi(h[l]))
    inputs = [x] + [phi(hl) for hl in h[:-1]]
    grads = [-(gl.T @ a) / batch for gl, a in zip(g, inputs)]
    loss = 0.5 * float(np.sum(g[-1] ** 2)) / batch
    return BPResult(loss=loss, weight_grads=grads, backward_signals=g[:-1], output_error=g[-1])
