"""The names a user may choose from (algorithms, datasets, dtypes), in a module free of torch, so
that the command line can offer and check them without loading the library."""

from __future__ import annotations

ALGOS = ("bp", "pc", "pc-alm")
DATASETS = ("digits", "mnist", "fmnist", "mnist5k", "mnist1d", "teacher")
DTYPE_NAMES = ("float32", "float64")
# The model families of train, grid and bench: the paper's residual MLP (width N) and the residual
# CNN of pcalm.models.conv (width = channels C), which needs square grey images.
MODELS = ("residual-mlp", "conv")
IMAGE_DATASETS = ("digits", "mnist", "fmnist", "mnist5k")
