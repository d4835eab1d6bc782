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
    "train",
    "TrainConfig",
    "TrainResult",
    "run_grid",
    "GridSpec",
    "GridResult",
]

# The trainer and the grid pull in the datasets, tqdm and matplotlib: loaded on first use.
_LAZY = {
    "train": "pcalm.training",
    "TrainConfig": "pcalm.training",
    "TrainResult": "pcalm.training",
    "run_grid": "pcalm.grid",
    "GridSpec": "pcalm.grid",
    "GridResult": "pcalm.grid",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pcalm' has no attribute {name!r}")
