"""Activation functions phi and their derivatives phi' (DESIGN section 1).

Names: "linear" (alias "identity"), "tanh", "relu". The derivative of relu at 0 is taken
as 0, as in torch and JAX.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

Tensor = torch.Tensor

ALIASES = {"identity": "linear"}


@dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity phi with its derivative phi'."""

    name: str
    phi: Callable[[Tensor], Tensor]
    dphi: Callable[[Tensor], Tensor]


def _tanh_derivative(z: Tensor) -> Tensor:
    t = torch.tanh(z)
    return 1.0 - t * t


ACTIVATIONS = {
    "linear": Activation("linear", lambda z: z, torch.ones_like),
    "tanh": Activation("tanh", torch.tanh, _tanh_derivative),
    "relu": Activation("relu", torch.relu, lambda z: (z > 0).to(z.dtype)),
}


def get_activation(name: str) -> Activation:
    """Return the activation called ``name``; raise ValueError naming the choices otherwise."""
    canonical = ALIASES.get(name, name)
    if canonical not in ACTIVATIONS:
        choices = sorted(set(ACTIVATIONS) | set(ALIASES))
        raise ValueError(f"activation: unknown name {name!r}; choose one of {choices}")
    return ACTIVATIONS[canonical]
