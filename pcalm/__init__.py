"""pcalm: BP, predictive coding (PC) and PC-ALM side by side in PyTorch.

The public names below are loaded on first use (PEP 562), so that ``import pcalm`` and the
command line's ``--help`` do not load torch: ``pcalm.ResidualMLP`` imports the models then.
"""

from __future__ import annotations

import importlib

# Public name -> the module that defines it.
_HOMES = {
    "BP": "pcalm.engine.algorithms",
    "PC": "pcalm.engine.algorithms",
    "PCALM": "pcalm.engine.algorithms",
    "MLP": "pcalm.models",
    "ResidualMLP": "pcalm.models",
    "LayeredModel": "pcalm.models",
    "Layered": "pcalm.models",
    "ResidualCNN": "pcalm.models",
    "Scale": "pcalm.models",
    "infer": "pcalm.engine.inference",
    "InferenceResult": "pcalm.engine.inference",
    "NonFiniteActivityError": "pcalm.engine.inference",
    "apply_grads": "pcalm.engine.grads",
    "train_step": "pcalm.engine.grads",
    "activity_lambda_max": "pcalm.engine.step_size",
    "train": "pcalm.experiments.training",
    "TrainConfig": "pcalm.experiments.training",
    "TrainResult": "pcalm.experiments.training",
    "run_grid": "pcalm.experiments.grid",
    "GridSpec": "pcalm.experiments.grid",
    "GridResult": "pcalm.experiments.grid",
}

__all__ = list(_HOMES)


def __getattr__(name: str):
    """Import the module that defines the public ``name`` and return it (PEP 562)."""
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'pcalm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
