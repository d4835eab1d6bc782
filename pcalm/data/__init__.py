"""Datasets: flattened, normalised inputs and one-hot targets."""

from pcalm.data.digits import load_digits

__all__ = ["load_digits"]
