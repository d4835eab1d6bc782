"""A seeded synthetic teacher task: labels are the argmax of a random tanh network's output."""

from __future__ import annotations

import numpy as np
import torch

from pcalm.data.dataset import Dataset, one_hot


def teacher_dataset(
    seed: int = 0,
    n_train: int = 2000,
    n_test: int = 500,
    input_dim: int = 20,
    hidden: int = 32,
    num_classes: int = 10,
) -> Dataset:
    """Gaussian inputs x ~ N(0, I); label = argmax of W_2 tanh(W_1 x) with N(0, 1/fan_in)
    weights, all drawn from ``seed``. Inputs are already standardised; labels one-hot."""
    for name, value in (("n_train", n_train), ("n_test", n_test), ("input_dim", input_dim), ("hidden", hidden), ("num_classes", num_classes)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((hidden, input_dim)) / np.sqrt(input_dim)
    w2 = rng.standard_normal((num_classes, hidden)) / np.sqrt(hidden)
    x = rng.standard_normal((n_train + n_test, input_dim))
    labels = np.argmax(np.tanh(x @ w1.T) @ w2.T, axis=1)
    y = one_hot(labels, num_classes)
    tensor = torch.from_numpy
    return Dataset("teacher", tensor(x[:n_train]), tensor(y[:n_train]), tensor(x[n_train:]), tensor(y[n_train:]))
