"""The residual MLP of the PC-ALM paper (DESIGN section 1).

Width N, depth L (weight layers), bias-free, weights drawn N(0, 1), depth-muP scalings:

    mu_1 = s_in * x W_1^T                          s_in  = 1/sqrt(n_0)
    mu_l = z_{l-1} + s_h * phi(z_{l-1}) W_l^T      s_h   = 1/sqrt(N L),  l = 2..L-1
    mu_L = s_out * phi(z_{L-1}) W_L^T              s_out = 1/N

The L-2 equal-width hidden blocks are stored as one stacked (L-2, N, N) parameter so that
layer-parallel code can treat them as a batch; ``weights()`` returns per-layer views.
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


class ResidualMLP(MatrixModel):
    """The paper's bias-free residual MLP with N(0, 1) weights drawn from ``seed``."""

    def __init__(
        self,
        input_dim: int,
        width: int,
        depth: int,
        output_dim: int,
        activation: str = "relu",
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        for name, value, least in (("input_dim", input_dim, 1), ("width", width, 1), ("depth", depth, 2), ("output_dim", output_dim, 1)):
            if int(value) != value or value < least:
                raise ValueError(f"{name}: must be an integer >= {least}, got {value!r}")
        self.widths = [input_dim] + [width] * (depth - 1) + [output_dim]
        # Each block is drawn in float64, then cast: the hidden stack's draw is the largest temporary.
        draw = 0 if dtype == torch.float64 else max(width * n for n in (input_dim, (depth - 2) * width, output_dim)) * dtype_bytes(torch.float64)
        check_model_fits(type(self).__name__, self.widths, dtype, False, draw)  # before any allocation
        self.activation = get_activation(activation)
        self.s_in = 1.0 / math.sqrt(input_dim)
        self.s_h = 1.0 / math.sqrt(width * depth)
        self.s_out = 1.0 / width
        generator = torch.Generator().manual_seed(seed)

        def normal(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape, generator=generator, dtype=torch.float64).to(dtype))

        self.w_in = normal(width, input_dim)
        self.w_hidden = normal(depth - 2, width, width)
        self.w_out = normal(output_dim, width)

    @property
    def width(self) -> int:
        return self.widths[1]

    @classmethod
    def from_weights(cls, weights: Sequence[Tensor], activation: str = "relu") -> "ResidualMLP":
        """Build the residual MLP around per-layer weights [W_1..W_L] (scalings from the shapes)."""
        weights = list(weights)
        if len(weights) < 2:
            raise ValueError(f"weights: a residual MLP needs at least 2 layers, got {len(weights)}")
        width, input_dim = weights[0].shape
        output_dim = weights[-1].shape[0]
        expected = [(width, input_dim)] + [(width, width)] * (len(weights) - 2) + [(output_dim, width)]
        for l, (w, shape) in enumerate(zip(weights, expected), start=1):
            if tuple(w.shape) != shape:
                raise ValueError(f"weights: W_{l} has shape {tuple(w.shape)}, expected {shape}")
        model = cls(input_dim, width, len(weights), output_dim, activation=activation, dtype=weights[0].dtype)
        with torch.no_grad():
            model.w_in.copy_(weights[0])
            if len(weights) > 2:
                model.w_hidden.copy_(torch.stack(weights[1:-1]))
            model.w_out.copy_(weights[-1])
        return model.to(weights[0].device)

    def weights(self) -> list[Tensor]:
        return [self.w_in, *self.w_hidden.unbind(0), self.w_out]

    def _weight(self, l: int) -> Tensor:
        if l == 1:
            return self.w_in
        if l == self.depth:
            return self.w_out
        return self.w_hidden[l - 2]

    def predict(self, l: int, z_prev: Tensor) -> Tensor:
        """mu_l of the module docstring."""
        return self._predict(l, z_prev, self._weight(l))

    def _predict(self, l: int, z_prev: Tensor, weight: Tensor) -> Tensor:
        """mu_l of the module docstring, with W_l = ``weight``."""
        if l == 1:
            return self.s_in * (z_prev @ weight.T)
        branch = self.activation.phi(z_prev) @ weight.T
        if l == self.depth:
            return self.s_out * branch
        return z_prev + self.s_h * branch

    def feedforward(self, x: Tensor) -> list[Tensor]:
        """The feedforward pass [z_1..z_L] (all hidden eps = 0), with the hidden blocks unbound
        once: autograd then backpropagates through one unbind, whereas indexing the stacked
        parameter once per layer would add a full-size (L-2, N, N) gradient per layer, O(L^2 N^2)."""
        activities = []
        z = x
        for l, weight in enumerate(self.weights(), start=1):
            z = self._predict(l, z, weight)
            activities.append(z)
        return activities

    def vjp(self, l: int, z_prev: Tensor, e: Tensor) -> Tensor:
        """e J_l: s_in e W_1 (l = 1); e + s_h (e W_l) * phi'(z_{l-1}) (hidden); s_out (e W_L) * phi'(z_{L-1})."""
        if l == 1:
            return self.s_in * (e @ self.w_in)
        branch = (e @ self._weight(l)) * self.activation.dphi(z_prev)
        if l == self.depth:
            return self.s_out * branch
        return e + self.s_h * branch

    def param_grads(self, l: int, z_prev: Tensor, e: Tensor) -> list[Tensor]:
        """[dL/dW_l] with dL/dW_l = -s_l/B e^T a_{l-1}, a_0 = x and a_{l-1} = phi(z_{l-1}) above."""
        batch = e.shape[0]
        if l == 1:
            return [-self.s_in * (e.T @ z_prev) / batch]
        scale = self.s_out if l == self.depth else self.s_h
        return [-scale * (e.T @ self.activation.phi(z_prev)) / batch]

    def split_parameter_grads(self, grads: list[Tensor]) -> list[list[Tensor]]:
        """``self.parameters()`` holds W_1, the stacked hidden weights, W_L."""
        grad_in, grad_hidden, grad_out = grads
        return [[grad_in], *([g] for g in grad_hidden.unbind(0)), [grad_out]]

    def assign_grads(self, grads: list[list[Tensor]]) -> None:
        weight_grads = [layer[0] for layer in grads]
        self.w_in.grad = weight_grads[0].detach().clone()
        self.w_hidden.grad = torch.stack([g.detach() for g in weight_grads[1:-1]]) if self.depth > 2 else torch.zeros_like(self.w_hidden)
        self.w_out.grad = weight_grads[-1].detach().clone()
