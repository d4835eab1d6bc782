"""scikit-learn's bundled 8x8 digits (offline): the default dataset."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits as _sklearn_digits


def load_digits(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 digits as (x, y): x (1797, 64) standardised per feature (constant pixels stay 0),
    y (1797, 10) one-hot."""
    bunch = _sklearn_digits()
    x = bunch.data.astype(np.float64)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    y = np.eye(10)[bunch.target]
    return torch.from_numpy(x).to(dtype), torch.from_numpy(y).to(dtype)
