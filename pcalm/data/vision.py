"""MNIST and Fashion-MNIST from IDX files laid out as torchvision stores them.

Expected layout under ``data_dir`` (torchvision's ``root``)::

    <data_dir>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    <data_dir>/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]

The files are read here (IDX is a tiny format), so torchvision is needed only to download
them (``download=True``, extra ``pcalm[vision]``). Pixels are scaled to [0, 1] and then
normalised with the data set's usual mean and std (the paper's and torchvision examples'
values), images flattened to 784 features; the official 60000/10000 train/test split.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from pcalm.data.dataset import DataNotFoundError, Dataset, one_hot

FOLDERS = {"mnist": "MNIST", "fmnist": "FashionMNIST"}
NORMALISATION = {"mnist": (0.1307, 0.3081), "fmnist": (0.2860, 0.3530)}
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def normalise_pixels(images: np.ndarray, name: str) -> np.ndarray:
    """Flattened images as float64 features: bytes scaled to [0, 1], then (x - mean) / std with
    ``NORMALISATION[name]`` (the paper's per-data-set mean and std)."""
    mean, std = NORMALISATION[name]
    return (images.reshape(len(images), -1).astype(np.float64) / 255.0 - mean) / std


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file of unsigned bytes (optionally gzipped) into an array of its shape."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {data.size} values")
    return data.reshape(shape)


def _find(raw_dir: Path, stem: str) -> Path | None:
    for candidate in (raw_dir / stem, raw_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _download(name: str, data_dir: Path) -> None:
    try:
        import torchvision
    except ImportError as error:
        raise DataNotFoundError(f"downloading {name} needs torchvision: pip install 'pcalm[vision]'") from error
    cls = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.FashionMNIST
    for train in (True, False):
        cls(str(data_dir), train=train, download=True)


def vision_dataset(name: str, data_dir: str | Path, download: bool = False) -> Dataset:
    """MNIST (``name="mnist"``) or Fashion-MNIST (``"fmnist"``) from ``data_dir``.

    Raises DataNotFoundError naming the expected files and how to get them when any is missing.
    """
    if name not in FOLDERS:
        raise ValueError(f"name: expected one of {sorted(FOLDERS)}, got {name!r}")
    raw_dir = Path(data_dir).expanduser() / FOLDERS[name] / "raw"
    paths = {key: _find(raw_dir, stem) for key, stem in FILES.items()}
    if download and None in paths.values():
        _download(name, Path(data_dir).expanduser())
        paths = {key: _find(raw_dir, stem) for key, stem in FILES.items()}
    missing = [FILES[key] for key, path in paths.items() if path is None]
    if missing:
        raise DataNotFoundError(
            f"{name}: missing {', '.join(missing)} (or .gz) in {raw_dir}. "
            f"Put the four IDX files there (torchvision's layout: <data-dir>/{FOLDERS[name]}/raw/), "
            f"or let torchvision fetch them: pip install 'pcalm[vision]' and pass --download "
            f"(download=True) with network access."
        )
    arrays = {key: read_idx(path) for key, path in paths.items()}
    tensors = {}
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{name}: {split} images {images.shape} and labels {labels.shape} do not match")
        tensors[f"x_{split}"] = torch.from_numpy(normalise_pixels(images, name))
        tensors[f"y_{split}"] = torch.from_numpy(one_hot(labels, 10))
    return Dataset(name, **tensors)
