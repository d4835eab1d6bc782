"""From inference results to ``torch.optim``: write every layer's parameter gradients into ``.grad``."""

from __future__ import annotations

import torch

from pcalm.engine.algorithms import Algorithm
from pcalm.engine.inference import InferenceResult, infer
from pcalm.models.base import LayeredModel
from pcalm.engine.schedule import Schedule


def apply_grads(model: LayeredModel, result: InferenceResult) -> None:
    """Set every parameter's ``.grad`` to the result's gradient, so any optimizer can step."""
    model.assign_grads(result.param_grads)


def train_step(model: LayeredModel, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, algo: Algorithm | Schedule) -> InferenceResult:
    """One training step: infer with ``algo``, write the gradients into ``.grad``, step ``optimizer``."""
    result = infer(model, x, y, algo)
    apply_grads(model, result)
    optimizer.step()
    return result
