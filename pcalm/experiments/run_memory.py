"""The memory check of a training run, before it allocates: its footprint
(:func:`pcalm.engine.footprint.training_footprint`) from the config's shapes, against the
machine's available memory. ``pcalm train`` checks its run, ``pcalm grid`` every cell before the
first one runs (on Ray each node checks its own cell in its task), ``pcalm bench`` every shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pcalm.engine.footprint import Footprint, check_training_fits, training_footprint
from pcalm.models.footprint import dtype_bytes

EVAL_CHUNK = 4096  # rows of one feedforward pass of pcalm.experiments.training.evaluate


class RunShape(Protocol):
    """What the estimate reads of a run's config (a :class:`pcalm.experiments.training.TrainConfig`)."""

    algo: str
    width: int
    depth: int
    batch_size: int
    steps: int | None
    eta: float | str
    dtype: str


@dataclass(frozen=True)
class BenchRun:
    """The PC-ALM run ``pcalm bench`` times on one shape (T = 2L, a given eta, float32)."""

    width: int
    depth: int
    batch_size: int
    algo: str = "pc-alm"
    steps: int | None = None
    eta: float | str = 0.2
    dtype: str = "float32"


def run_footprint(config: RunShape, input_dim: int, output_dim: int, eval_rows: int = 0) -> Footprint:
    """The footprint of ``config``'s run (a residual MLP, Adam, T = ``steps`` or 2L) on data of
    ``input_dim`` features and ``output_dim`` classes, evaluated ``eval_rows`` rows at a time."""
    import torch

    widths = [input_dim] + [config.width] * (config.depth - 1) + [output_dim]
    inferring = config.algo != "bp"
    steps = (config.steps or 2 * config.depth) if inferring else 0
    return training_footprint(
        widths, config.batch_size, dtype_bytes(getattr(torch, config.dtype)), steps,
        stacked_hidden=(config.depth - 2) * config.width ** 2 if inferring else 0,
        eta_auto=inferring and config.eta == "auto", eval_rows=min(EVAL_CHUNK, eval_rows),
    )


def check_run_fits(config: RunShape, input_dim: int, output_dim: int, eval_rows: int = 0, available: int | None = None) -> None:
    """Refuse ``config``'s run (:class:`pcalm.runtime.errors.ModelTooLargeError`, a ValueError:
    exit 2) when its footprint exceeds the available memory (``available``; None reads it). The
    estimate is the residual MLP's; a run of another model family (``config.model``, e.g. the
    residual CNN) is not estimated here."""
    if getattr(config, "model", "residual-mlp") != "residual-mlp":
        return
    what = f"{config.algo} N={config.width} L={config.depth}, batch {config.batch_size} ({config.dtype})"
    check_training_fits(what, run_footprint(config, input_dim, output_dim, eval_rows), available)


def check_bench_fits(shapes: "tuple[tuple[int, int, int], ...]", input_dim: int, output_dim: int, available: int | None = None) -> None:
    """Refuse ``pcalm bench`` when a (depth, width, batch) shape's PC-ALM step (T = 2L, the fast
    path, plus the reference matmul's two (L-2, B, N) operands and its stored transposes,
    counted as the fast path's) exceeds the available memory; every shape before the first runs."""
    for depth, width, batch in shapes:
        config = BenchRun(width=width, depth=depth, batch_size=batch)
        check_training_fits(f"bench L={depth} N={width} B={batch} (float32)", run_footprint(config, input_dim, output_dim), available)
