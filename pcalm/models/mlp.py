"""Plain MLP (DESIGN section 1): mu_1 = x W_1^T + b_1, mu_l = phi(z_{l-1}) W_l^T + b_l for l >= 2.

With phi = identity and no biases it is the linear network of the exact theorems.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from pcalm.models.activations import get_activation
from pcalm.models.base import MatrixModel
from pcalm.models.footprint import check_model_fits, dtype_bytes

Tensor = torch.Tensor


class MLP(MatrixModel):
    """Plain multilayer perceptron with widths [n_0, ..., n_L].

    Initialisation follows ``torch.nn.Linear`` (uniform in +-1/sqrt(fan_in)) drawn from a
    generator seeded with ``seed``, so a seed fixes the weights.
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str = "identity",
        bias: bool = False,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        widths = [int(n) for n in widths]
        if len(widths) < 2 or any(n < 1 for n in widths):
            raise ValueError(f"widths: need at least two positive widths, got {widths}")
        self.widths = widths
        # Each weight is drawn as float64 uniforms, scaled (a second float64 temporary), then cast.
        check_model_fits(type(self).__name__, widths, dtype, bias, 2 * max(a * b for a, b in zip(widths[:-1], widths[1:])) * dtype_bytes(torch.float64))
        self.activation = get_activation(activation)
        generator = torch.Generator().manual_seed(seed)
        self._weights = nn.ParameterList()
        self._biases = nn.ParameterList() if bias else None
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            bound = 1.0 / math.sqrt(n_in)
            w = (torch.rand(n_out, n_in, generator=generator, dtype=torch.float64) * 2 - 1) * bound
            self._weights.append(nn.Parameter(w.to(dtype)))
            if self._biases is not None:
                b = (torch.rand(n_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound
                self._biases.append(nn.Parameter(b.to(dtype)))

    @classmethod
    def from_weights(
        cls,
        weights: Sequence[Tensor],
        activation: str = "identity",
        biases: Sequence[Tensor] | None = None,
    ) -> "MLP":
        """Build an MLP around given per-layer weights (and optional biases), copying them."""
        weights = list(weights)
        if not weights:
            raise ValueError("weights: need at least one layer")
        widths = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        for l, w in enumerate(weights, start=1):
            if w.dim() != 2 or w.shape != (widths[l], widths[l - 1]):
                raise ValueError(f"weights: W_{l} has shape {tuple(w.shape)}, expected ({widths[l]}, {widths[l - 1]})")
        model = cls(widths, activation=activation, bias=biases is not None, dtype=weights[0].dtype)
        with torch.no_grad():
            for p, w in zip(model._weights, weights):
                p.copy_(w)
            if biases is not None:
                biases = list(biases)
                if len(biases) != len(weights) or any(b.shape != (n,) for b, n in zip(biases, widths[1:])):
                    raise ValueError("biases: need one bias of shape (n_l,) per layer")
                for p, b in zip(model._biases, biases):
                    p.copy_(b)
        return model.to(weights[0].device)

    def weights(self) -> list[Tensor]:
        return list(self._weights)

    def biases(self) -> list[Tensor | None]:
        if self._biases is None:
            return [None] * self.depth
        return list(self._biases)

    def _input(self, l: int, z_prev: Tensor) -> Tensor:
        """Layer l's input: x for l = 1, phi(z_{l-1}) above."""
        return z_prev if l == 1 else self.activation.phi(z_prev)

    def predict(self, l: int, z_prev: Tensor) -> Tensor:
        """mu_l = a_{l-1} W_l^T + b_l with a_0 = x, a_{l-1} = phi(z_{l-1})."""
        mu = self._input(l, z_prev) @ self._weights[l - 1].T
        if self._biases is not None:
            mu = mu + self._biases[l - 1]
        return mu

    def vjp(self, l: int, z_prev: Tensor, e: Tensor) -> Tensor:
        """e J_l = (e W_l) * phi'(z_{l-1})."""
        back = e @ self._weights[l - 1]
        return back if l == 1 else back * self.activation.dphi(z_prev)

    def param_grads(self, l: int, z_prev: Tensor, e: Tensor) -> list[Tensor]:
        """[dL/dW_l] or [dL/dW_l, dL/db_l]: dL/dW_l = -1/B e^T a_{l-1}; dL/db_l = -1/B sum_b e_b."""
        batch = e.shape[0]
        grad_w = -(e.T @ self._input(l, z_prev)) / batch
        return [grad_w] if self._biases is None else [grad_w, -e.sum(dim=0) / batch]

    def split_parameter_grads(self, grads: list[Tensor]) -> list[list[Tensor]]:
        """``self.parameters()`` holds [W_1..W_L] then [b_1..b_L]."""
        depth = self.depth
        if self._biases is None:
            return [[g] for g in grads[:depth]]
        return [[w, b] for w, b in zip(grads[:depth], grads[depth:])]

    def assign_grads(self, grads: list[list[Tensor]]) -> None:
        for l, layer in enumerate(grads):
            self._weights[l].grad = layer[0].detach().clone()
            if self._biases is not None:
                self._biases[l].grad = layer[1].detach().clone()
