"""scikit-learn's bundled 8x8 digits (offline): the default dataset."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits as _sklearn_digits

from pcalm.data.dataset import Dataset, one_hot, split_indices, standardise


def load_digits(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 digits as (x, y): x (1797, 64) standardised per feature (constant pixels stay 0),
    y (1797, 10) one-hot."""
    bunch = _sklearn_digits()
    x = bunch.data.astype(np.float64)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    y = np.eye(10)[bunch.target]
    return torch.from_numpy(x).to(dtype), torch.from_numpy(y).to(dtype)


def digits_dataset(split_seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """The digits as a train/test task: a seeded 80/20 split (1437/360 rows), each pixel
    standardised with the training split's mean and std, one-hot labels."""
    bunch = _sklearn_digits()
    train, test = split_indices(len(bunch.target), test_fraction, split_seed)
    x_train, x_test = standardise(bunch.data[train].astype(np.float64), bunch.data[test].astype(np.float64))
    return Dataset(
        "digits",
        torch.from_numpy(x_train),
        torch.from_numpy(one_hot(bunch.target[train], 10)),
        torch.from_numpy(x_test),
        torch.from_numpy(one_hot(bunch.target[test], 10)),
    )
