"""scikit-learn's bundled 8x8 digits (offline): the default dataset."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits as _sklearn_digits

from pcalm.data.dataset import Dataset, one_hot, split_indices, standardise


def digits_dataset(split_seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """The digits as a train/test task: a seeded 80/20 split (1438/359 rows), each pixel
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
