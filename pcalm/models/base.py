"""The per-layer interface every model offers to the inference engine.

A model with L layers maps the clamped input z_0 = x through predictions mu_l(z_{l-1}),
l = 1..L (DESIGN section 1). The engine needs, per layer l, only:

- ``predict(l, z_prev)``: mu_l(z_{l-1});
- ``vjp(l, z_prev, e)``: the vector-Jacobian product e J_l (row form of J_l^T e), J_l = d mu_l / d z_{l-1};
- ``param_grads(l, z_prev, e)``: the gradient of -1/B <e, mu_l(z_{l-1})> with respect to
  layer l's parameters, one tensor per entry of ``layer_parameters(l)`` (the MLP: W_l and, with
  biases, b_l; the residual MLP: W_l; :class:`pcalm.Layered`: its child's parameters), i.e. the
  layer-l parameter gradient of L_rho when e is layer l's effective error (DESIGN section 3).

Each reads z_{l-1} and layer l's own parameters only: rules stay local. Activities may have any
per-sample shape (vectors for the MLPs, (C, H, W) feature maps for conv layers); the energy sums
over every non-batch dimension.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import nn

Tensor = torch.Tensor


class LayeredModel(nn.Module):
    """Base class of the models: a stack of L predictions mu_1..mu_L."""

    @property
    @abstractmethod
    def depth(self) -> int:
        """L, the number of layers."""

    @abstractmethod
    def layer_parameters(self, l: int) -> list[Tensor]:
        """Layer l's parameters (1 <= l <= L), in the order ``param_grads`` returns their gradients."""

    @abstractmethod
    def predict(self, l: int, z_prev: Tensor) -> Tensor:
        """mu_l(z_{l-1}) for layer l in 1..L (DESIGN section 1)."""

    @abstractmethod
    def vjp(self, l: int, z_prev: Tensor, e: Tensor) -> Tensor:
        """e J_l with J_l = d mu_l / d z_{l-1}, per sample (the J_l^T e of DESIGN section 3)."""

    @abstractmethod
    def param_grads(self, l: int, z_prev: Tensor, e: Tensor) -> list[Tensor]:
        """Gradient of -1/B <e, mu_l(z_{l-1})> in each of ``layer_parameters(l)``."""

    @abstractmethod
    def split_parameter_grads(self, grads: list[Tensor]) -> list[list[Tensor]]:
        """Per-layer gradients (aligned with ``layer_parameters``) from gradients aligned with ``self.parameters()``."""

    @abstractmethod
    def assign_grads(self, grads: list[list[Tensor]]) -> None:
        """Write per-layer gradients (aligned with ``layer_parameters``) into the parameters' ``.grad`` fields."""

    @abstractmethod
    def check_batch(self, x: Tensor, y: Tensor) -> None:
        """Raise ValueError naming the problem unless x and y have the shapes the model takes and gives."""

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
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


class MatrixModel(LayeredModel):
    """A model whose layers each hold one weight matrix W_l of shape (n_l, n_{l-1}) and an
    optional bias b_l, acting on vector activities of widths [n_0, ..., n_L]: the MLP and the
    residual MLP."""

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

    def layer_parameters(self, l: int) -> list[Tensor]:
        """[W_l] or [W_l, b_l]."""
        bias = self.biases()[l - 1]
        return [self.weights()[l - 1]] + ([] if bias is None else [bias])

    def check_batch(self, x: Tensor, y: Tensor) -> None:
        """x must be (B, n_0) and y (B, n_L)."""
        for name, t, width in (("x", x, self.widths[0]), ("y", y, self.widths[-1])):
            if t.dim() != 2 or t.shape[1] != width:
                raise ValueError(f"{name}: expected shape (batch, {width}), got {tuple(t.shape)}")

    @property
    def dtype(self) -> torch.dtype:
        return self.weights()[0].dtype

    @property
    def device(self) -> torch.device:
        return self.weights()[0].device
