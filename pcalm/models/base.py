"""The per-layer interface every model offers to the inference engine.

A model with L weight layers maps the clamped input z_0 = x through predictions
mu_l(z_{l-1}), l = 1..L (DESIGN section 1). The engine needs, per layer l, only:

- ``predict(l, z_prev)``: mu_l(z_{l-1});
- ``vjp(l, z_prev, e)``: the vector-Jacobian product e J_l (row form of J_l^T e), J_l = d mu_l / d z_{l-1};
- ``param_grads(l, z_prev, e)``: the gradient of -1/B <e, mu_l(z_{l-1})> with respect to
  layer l's weight (and bias), i.e. the layer-l weight gradient of L_rho when e is layer l's
  effective error (DESIGN section 3).

Each reads z_{l-1} and layer l's own parameters only: rules stay local.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import nn

Tensor = torch.Tensor


class LayeredModel(nn.Module):
    """Base class of the models: a stack of L predictions mu_1..mu_L."""

    widths: list[int]

    @property
    def depth(self) -> int:
        """L, the number of weight layers."""
        return len(self.widths) - 1

    @abstractmethod
    def weights(self) -> list[Tensor]:
        """The per-layer weights [W_1..W_L], W_l of shape (n_l, n_{l-1})."""

    def biases(self) -> list[Tensor | None]:
        """The per-layer biases [b_1..b_L] (None where a layer has none)."""
        return [None] * self.depth

    @abstractmethod
    def predict(self, l: int, z_prev: Tensor) -> Tensor:
        """mu_l(z_{l-1}) for layer l in 1..L (DESIGN section 1)."""

    @abstractmethod
    def vjp(self, l: int, z_prev: Tensor, e: Tensor) -> Tensor:
        """e J_l with J_l = d mu_l / d z_{l-1}, per sample (the J_l^T e of DESIGN section 3)."""

    @abstractmethod
    def param_grads(self, l: int, z_prev: Tensor, e: Tensor) -> tuple[Tensor, Tensor | None]:
        """(dL/dW_l, dL/db_l) = gradient of -1/B <e, mu_l(z_{l-1})> in layer l's parameters."""

    @abstractmethod
    def split_parameter_grads(self, grads: list[Tensor]) -> tuple[list[Tensor], list[Tensor | None]]:
        """Per-layer (weight, bias) gradients from gradients aligned with ``self.parameters()``."""

    @abstractmethod
    def assign_grads(self, weight_grads: list[Tensor], bias_grads: list[Tensor | None]) -> None:
        """Write per-layer gradients into the parameters' ``.grad`` fields."""

    def feedforward(self, x: Tensor) -> list[Tensor]:
        """The feedforward pass [z_1..z_L], z_l = mu_l(z_{l-1}), z_0 = x (all hidden eps = 0)."""
        activities = []
        z = x
        for l in range(1, self.depth + 1):
            z = self.predict(l, z)
            activities.append(z)
        return activities

    def forward(self, x: Tensor) -> Tensor:
        """The network output y_hat = mu_L(z_{L-1}) of the feedforward pass."""
        return self.feedforward(x)[-1]

    @property
    def dtype(self) -> torch.dtype:
        return self.weights()[0].dtype

    @property
    def device(self) -> torch.device:
        return self.weights()[0].device
