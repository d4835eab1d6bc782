"""Random linear networks shared by the linear-theory checks (C1-C3), seeded."""

from __future__ import annotations

import numpy as np


def random_linear_nets(count: int, seed: int, max_depth: int = 6, max_width: int = 6) -> list[list[np.ndarray]]:
    """``count`` plain linear nets: depth 2..max_depth, widths 1..max_width (non-square),
    entries N(0, scale^2 / n_in) with scale uniform in [0.3, 2]."""
    rng = np.random.default_rng(seed)
    nets = []
    for _ in range(count):
        depth = int(rng.integers(2, max_depth + 1))
        widths = rng.integers(1, max_width + 1, size=depth + 1)
        scale = rng.uniform(0.3, 2.0)
        nets.append([rng.standard_normal((widths[l + 1], widths[l])) * scale / np.sqrt(widths[l]) for l in range(depth)])
    return nets


def residual_linear_weights(depth: int, width: int, input_dim: int, output_dim: int, seed: int) -> list[np.ndarray]:
    """Raw N(0, 1) weights of the paper's residual MLP (use numerics.residual_effective_weights)."""
    rng = np.random.default_rng(seed)
    shapes = [(width, input_dim)] + [(width, width)] * (depth - 2) + [(output_dim, width)]
    return [rng.standard_normal(shape) for shape in shapes]


def random_batch(weights: list[np.ndarray], batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, weights[0].shape[1])), rng.standard_normal((batch, weights[-1].shape[0]))
