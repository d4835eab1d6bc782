"""Input checks run before any work: shapes, dtypes and devices of model, x and y."""

from __future__ import annotations

import torch

from pcalm.models.base import LayeredModel


def check_inputs(model: LayeredModel, x: torch.Tensor, y: torch.Tensor) -> None:
    """Raise ValueError naming the problem unless x and y are floating tensors of the model's
    dtype on the model's device, finite, with one batch size B >= 1, and of the shapes the model
    takes and gives (``model.check_batch``: (B, n_0) and (B, n_L) for the MLPs; for a
    :class:`pcalm.Layered`, the shapes its children produce, the layer named where one does not fit)."""
    if not isinstance(model, LayeredModel):
        raise ValueError(f"model: expected a pcalm model (MLP, ResidualMLP, Layered), got {type(model).__name__}")
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if x.dim() >= 1 and y.dim() >= 1 and x.shape[0] != y.shape[0]:
        raise ValueError(f"x, y: batch sizes differ ({x.shape[0]} vs {y.shape[0]})")
    if x.dim() >= 1 and x.shape[0] < 1:
        raise ValueError("x: the batch is empty")
    for name, t in (("x", x), ("y", y)):
        if t.dtype != model.dtype:
            raise ValueError(f"{name}: dtype {t.dtype} does not match the model's {model.dtype}")
        if t.device != model.device:
            raise ValueError(f"{name}: device {t.device} does not match the model's {model.device}")
        if t.numel() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: contains NaN or infinite values")
    model.check_batch(x, y)


def check_device(name: str) -> torch.device:
    """The torch device ``name`` names; ValueError if it names none, or CUDA where torch sees none."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {name!r} asked for, but torch sees no CUDA device")
    return device
