"""What an inference returns, and the divergence error it raises instead of NaN gradients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from pcalm.engine.schedule import Schedule

Tensor = torch.Tensor


class NonFiniteActivityError(FloatingPointError):
    """Raised when a PC / PC-ALM run diverges: some layer's activities, errors or energy
    term stop being finite (or BP's loss does)."""


@dataclass
class InferenceResult:
    """What one inference produces.

    param_grads: per layer l, the gradients of the batch-mean objective (the sign and scale
    autograd puts in ``.grad``) in layer l's parameters, aligned with
    ``model.layer_parameters(l)``. weight_grads / bias_grads: for models whose layers hold a
    weight and an optional bias (the MLP, the residual MLP, a :class:`pcalm.Layered` of Linear or
    Conv children), the per-layer first and second entries (None where a layer has no bias).
    z: final hidden activities [z_1..z_{L-1}]. lam: multipliers used for the weight gradient
    (PC: zeros; BP: BP's backward signals -B dl/dz_l). energies: the objective after each
    activity step, index 0 being the feedforward start (BP: the loss alone); layer_energies:
    its per-layer terms, shape (len(energies), L). eta: the activity step used (None for BP).
    work: what the run counted as it ran (PC / PC-ALM): "layer_steps", one hidden layer's
    activity step and prediction pass each, and "dual_updates", one hidden layer's
    lam_l <- lam_l + alpha eps_l each (empty for BP). way: the code that ran: "reference" (the
    per-layer loop), "autograd" (BP), or the fast path's "fused" or "eager" (:mod:`pcalm.engine.stacked`).
    """

    param_grads: list[list[Tensor]]
    z: list[Tensor]
    lam: list[Tensor]
    energies: Tensor
    layer_energies: Tensor
    eta: float | None
    work: dict[str, int] = field(default_factory=dict)
    way: str = "reference"

    @property
    def weight_grads(self) -> list[Tensor]:
        """The per-layer weight gradients [dL/dW_1..dL/dW_L] (each layer's first parameter);
        ValueError naming a layer that holds no weight and at most a bias."""
        for l, layer in enumerate(self.param_grads, start=1):
            if not 1 <= len(layer) <= 2:
                raise ValueError(f"weight_grads: layer {l} has {len(layer)} parameters, not a weight and an optional bias; read param_grads")
        return [layer[0] for layer in self.param_grads]

    @property
    def bias_grads(self) -> list[Tensor | None]:
        """The per-layer bias gradients (each layer's second parameter; None where it has none)."""
        self.weight_grads  # noqa: B018 - the same layer check
        return [layer[1] if len(layer) == 2 else None for layer in self.param_grads]

    def flat_grads(self) -> list[Tensor]:
        """Every parameter gradient, layer after layer (the input of a gradient cosine)."""
        return [g for layer in self.param_grads for g in layer]


def raise_if_not_finite(per_layer: Tensor, schedule: Schedule) -> None:
    """Stop with the first activity step and layer whose energy term (hence its activities or
    errors) stopped being finite.

    Arguments:
        per_layer: the (steps + 1, L) table of L_rho's per-layer terms.
        schedule: the run's schedule, named in the message with its eta, alpha and rho.
    """
    finite = torch.isfinite(per_layer)
    if bool(finite.all()):
        return
    step, layer = (int(i) for i in (~finite).nonzero()[0])
    raise NonFiniteActivityError(
        f"{schedule.name}: diverged at activity step {step}: the energy of layer {layer + 1} is no longer finite "
        f"(its activities or errors overflowed; eta={schedule.eta}, alpha={schedule.alpha}, rho={schedule.rho}); "
        "the step size is probably too large"
    )
