"""What a model's parameters take in memory, from its widths and dtype alone, checked against
the machine's available memory before the constructors allocate (:func:`check_model_fits`).

A training step's further buffers are estimated in :mod:`pcalm.engine.footprint`, from these counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pcalm.runtime.memory import check_fits, format_bytes


def parameter_count(widths: Sequence[int], bias: bool = False) -> int:
    """The number of parameters of a layered model with widths [n_0, ..., n_L]: sum over l of
    n_l n_{l-1} weights (W_l of shape (n_l, n_{l-1})), plus n_l biases each where ``bias``."""
    weights = sum(int(n_in) * int(n_out) for n_in, n_out in zip(widths[:-1], widths[1:]))
    return weights + (sum(int(n) for n in widths[1:]) if bias else 0)


def dtype_bytes(dtype: torch.dtype) -> int:
    """Bytes of one element of ``dtype``."""
    return torch.empty((), dtype=dtype).element_size()


def check_model_fits(name: str, widths: Sequence[int], dtype: torch.dtype, bias: bool, draw_bytes: int) -> None:
    """Refuse (:class:`pcalm.runtime.errors.ModelTooLargeError`, a ValueError and a MemoryError)
    a model whose parameters, plus the temporary of their largest random draw, exceed the
    machine's available memory, before anything is allocated.

    Arguments:
        name: the model's class name; widths: [n_0, ..., n_L]; dtype: the parameters' dtype;
        bias: whether each layer has a bias; draw_bytes: the largest temporary the constructor
            makes while drawing the weights (e.g. a float64 draw before the cast to ``dtype``).
    """
    parameters = parameter_count(widths, bias) * dtype_bytes(dtype)
    depth, width = len(widths) - 1, max(widths[1:-1], default=widths[-1])
    what = f"pcalm.{name} width={width}, depth={depth} ({str(dtype).removeprefix('torch.')})"
    check_fits(what, parameters + draw_bytes, f"parameters {format_bytes(parameters)} + the weight draw's temporary {format_bytes(draw_bytes)}")
