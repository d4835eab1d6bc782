"""pcalm: BP, predictive coding (PC) and PC-ALM side by side in PyTorch."""

from pcalm.algorithms import BP, PC, PCALM
from pcalm.grads import apply_grads, train_step
from pcalm.inference import InferenceResult, NonFiniteActivityError, infer
from pcalm.models import MLP, LayeredModel, ResidualMLP
from pcalm.step_size import activity_lambda_max

__all__ = [
    "BP",
    "PC",
    "PCALM",
    "MLP",
    "ResidualMLP",
    "LayeredModel",
    "infer",
    "InferenceResult",
    "NonFiniteActivityError",
    "apply_grads",
    "train_step",
    "activity_lambda_max",
]
