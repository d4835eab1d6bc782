"""Input checks run before any work: shapes, dtypes and devices of model, x and y."""

from __future__ import annotations

import torch

from pcalm.models.base import LayeredModel


def check_inputs(model: LayeredModel, x: torch.Tensor, y: torch.Tensor) -> None:
    """Raise ValueError naming the problem unless x is (B, n_0), y is (B, n_L), both floating
    tensors of the model's dtype on the model's device, finite, with B >= 1."""
    if not isinstance(model, LayeredModel):
        raise ValueError(f"model: expected a pcalm model (MLP, ResidualMLP), got {type(model).__name__}")
    for name, t, width in (("x", x, model.widths[0]), ("y", y, model.widths[-1])):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 2 or t.shape[1] != width:
            raise ValueError(f"{name}: expected shape (batch, {width}), got {tuple(t.shape)}")
        if t.dtype != model.dtype:
            raise ValueError(f"{name}: dtype {t.dtype} does not match the model's {model.dtype}")
        if t.device != model.device:
            raise ValueError(f"{name}: device {t.device} does not match the model's {model.device}")
        if t.numel() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: contains NaN or infinite values")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x, y: batch sizes differ ({x.shape[0]} vs {y.shape[0]})")
    if x.shape[0] < 1:
        raise ValueError("x: the batch is empty")


def check_device(name: str) -> torch.device:
    """The torch device ``name`` names; ValueError if it names none, or CUDA where torch sees none."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {name!r} asked for, but torch sees no CUDA device")
    return device
