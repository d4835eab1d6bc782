"""The dataset container shared by every loader, and deterministic mini-batch orders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pcalm.runtime.errors import DataNotFoundError  # noqa: F401  (re-exported: the loaders raise it from here)

Tensor = torch.Tensor


@dataclass(frozen=True)
class Dataset:
    """A classification task: flattened, normalised inputs and one-hot targets.

    x_train (n_train, n_0), y_train (n_train, n_classes); likewise for the test split.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor

    @property
    def input_dim(self) -> int:
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int:
        return self.y_train.shape[1]

    def training_batch(self, size: int, seed: int) -> tuple[Tensor, Tensor]:
        """``size`` training rows drawn without replacement by ``seed`` (the first ``size`` of a
        seeded permutation), as (x, y)."""
        rows = torch.randperm(len(self.x_train), generator=torch.Generator().manual_seed(seed))[:size]
        return self.x_train[rows], self.y_train[rows]

    def to(self, device: torch.device | str, dtype: torch.dtype) -> "Dataset":
        """A copy on ``device`` in ``dtype``."""
        move = lambda t: t.to(device=device, dtype=dtype)  # noqa: E731
        return Dataset(self.name, move(self.x_train), move(self.y_train), move(self.x_test), move(self.y_test))


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """One-hot rows (float64) for integer labels in 0..num_classes-1."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels: expected integers in 0..{num_classes - 1}, got range {labels.min()}..{labels.max()}")
    return np.eye(num_classes)[labels]


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature standardisation with the training split's mean and std (constant features stay 0)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def split_indices(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random (train, test) partition of range(n); the test part has round(n * test_fraction) rows."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: must lie strictly between 0 and 1, got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[Tensor]:
    """Row indices of each mini-batch of one epoch: a permutation drawn from (seed, epoch),
    cut into full batches; the last ``n % batch_size`` rows of the permutation are left out
    so every step sees ``batch_size`` samples."""
    if batch_size < 1 or batch_size > n:
        raise ValueError(f"batch_size: must lie in 1..{n} (the training set size), got {batch_size}")
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator)
    return list(order[: n - n % batch_size].split(batch_size))
