"""Shared Hypothesis strategies and helpers for the numerics tests.

Weights are drawn as ``W_l = scale * G / sqrt(n_{l-1})`` with G standard normal, so
``scale`` is the per-layer gain independent of width. Hypothesis draws the shapes, the
gain, rho and an integer seed for NumPy's generator, so every example is reproducible from
the Hypothesis database / profile seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

# float64 unit roundoff
UNIT_ROUNDOFF = np.finfo(np.float64).eps / 2


@dataclass
class Net:
    weights: list[np.ndarray]
    x: np.ndarray
    y: np.ndarray

    @property
    def depth(self) -> int:
        return len(self.weights)


def make_net(widths: list[int], batch: int, scale: float, seed: int) -> Net:
    rng = np.random.default_rng(seed)
    weights = [scale * rng.standard_normal((m, n)) / np.sqrt(n) for n, m in zip(widths[:-1], widths[1:])]
    x = rng.standard_normal((batch, widths[0]))
    y = rng.standard_normal((batch, widths[-1]))
    return Net(weights, x, y)


@st.composite
def nets(draw, min_depth=1, max_depth=8, max_width=6, max_batch=5, min_scale=0.1, max_scale=3.0) -> Net:
    depth = draw(st.integers(min_depth, max_depth))
    widths = draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1))
    batch = draw(st.integers(1, max_batch))
    scale = draw(st.floats(min_scale, max_scale))
    seed = draw(st.integers(0, 2**32 - 1))
    return make_net(widths, batch, scale, seed)


def rhos(low: float = 0.05, high: float = 20.0):
    """rho drawn log-uniformly in [low, high]."""
    return st.floats(np.log(low), np.log(high)).map(np.exp)


def flat(arrays) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays]) if len(arrays) else np.zeros(0)


def rel_err(actual, expected) -> float:
    """||actual - expected|| / ||expected|| over all layers concatenated."""
    a, e = flat(actual), flat(expected)
    return float(np.linalg.norm(a - e) / np.linalg.norm(e))


def central_gradient(f, arrays: list[np.ndarray], h: float) -> list[np.ndarray]:
    """Central finite differences of scalar ``f()`` w.r.t. every entry of ``arrays`` (edited in place)."""
    out = []
    for arr in arrays:
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            keep = arr[idx]
            arr[idx] = keep + h
            up = f()
            arr[idx] = keep - h
            down = f()
            arr[idx] = keep
            g[idx] = (up - down) / (2 * h)
        out.append(g)
    return out


def fewer_examples(fraction: float):
    """``@settings`` for an expensive property: ``fraction`` of the loaded profile's example
    count (ci: 25, full: 500), so it scales with ``PCALM_HYPOTHESIS_PROFILE`` and keeps the
    profile's seeding."""
    return settings(max_examples=max(1, round(fraction * settings.default.max_examples)))
