"""Activation functions phi and their derivatives (DESIGN section 1: linear, tanh, relu)."""

from __future__ import annotations

from typing import Callable

import numpy as np

Array = np.ndarray


def _relu(a: Array) -> Array:
    return np.maximum(a, 0.0)


def _relu_prime(a: Array) -> Array:
    return (a > 0).astype(a.dtype)


def _tanh_prime(a: Array) -> Array:
    return 1.0 - np.tanh(a) ** 2


_ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "linear": (lambda a: a, np.ones_like),
    "tanh": (np.tanh, _tanh_prime),
    "relu": (_relu, _relu_prime),
}


def activation(name: str) -> tuple[Callable[[Array], Array], Callable[[Array], Array]]:
    """Return ``(phi, phi')`` for ``name`` in {"linear", "tanh", "relu"} (DESIGN section 1).

    relu's derivative at 0 is taken as 0. ``phi`` and ``phi'`` of "linear" and "tanh" are
    analytic, so they accept complex arrays (used for complex-step derivatives in tests).
    """
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(_ACTIVATIONS)}") from None
