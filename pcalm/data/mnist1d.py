"""MNIST-1D (Greydanus, 2020): 40-sample 1D signals of 10 digit templates, generated locally.

The ``mnist1d`` package builds the data set from templates bundled in its source, with no
download: 4000 training and 1000 test signals of length 40 (its default arguments, seed 42).
It is harder than the 8x8 digits (a small MLP reaches well under 100%), so it separates the
methods offline. The package seeds NumPy's and Python's global generators; they are restored.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from pcalm.data.dataset import DataNotFoundError, Dataset, one_hot


def mnist1d_dataset() -> Dataset:
    """The standard MNIST-1D split (package defaults), already centred and scaled by the
    package to mean 0 and std 1 over the whole set; one-hot labels."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as error:
        raise DataNotFoundError("dataset 'mnist1d' needs the mnist1d package: pip install mnist1d") from error
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return Dataset(
        "mnist1d",
        torch.from_numpy(np.asarray(data["x"], dtype=np.float64)),
        torch.from_numpy(one_hot(data["y"], 10)),
        torch.from_numpy(np.asarray(data["x_test"], dtype=np.float64)),
        torch.from_numpy(one_hot(data["y_test"], 10)),
    )
