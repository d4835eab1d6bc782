"""What a grid's cells cost, so that its progress and ETA are weighted by work, not by cells.

A cell of width N, depth L and batch B takes ``epochs x steps_per_epoch`` Adam steps. A step of
PC or PC-ALM runs T activity steps (T = 2L by default) over L layers of N x N matmuls on B rows,
plus a forward pass and the weight gradient; BP's is a forward and a backward pass. So a step
costs about ``STEP_FIXED_UNITS + passes x (L x N^2 + D x N) x B`` units (multiply-adds, D the
input size, with the fixed cost of a step's call outside its matmuls written in the same
units), ``passes`` = T + 2 for PC and PC-ALM, 2 for BP. Cost grows as L^2 N^2 for PC-ALM: by this count the N = L = 128 cell
position is about half of the paper's grid.

The units become seconds at ``REFERENCE_SECONDS_PER_UNIT``, for the estimate printed before the
first cell; once cells finish, the ETA uses the measured rate instead
(:func:`eta_seconds`: elapsed time x remaining cost / finished cost).
"""

from __future__ import annotations

from pcalm.experiments.training import TrainConfig

# PC-ALM at N = L = 128, T = 256, B = 64 took 857 ms a step on one thread of an idle Intel Xeon
# (Sapphire Rapids class), `pcalm bench --threads 1 --shape 128,128,64`: 258 x 128 x 128^2 x 64
# units in 0.857 s. A rough rate for the first estimate only: other CPUs and loads differ.
REFERENCE_SECONDS_PER_UNIT = 0.857 / (258 * 128 * 128**2 * 64)
# The fixed cost of a step outside its matmuls (Python, buffers, the optimiser): about 1.2-1.6 ms
# in docs/benchmarks.md's fast-path timings; 1.5 ms at the reference rate.
STEP_FIXED_UNITS = 1.5e-3 / REFERENCE_SECONDS_PER_UNIT


def passes_per_step(config: TrainConfig) -> int:
    """Passes over the L layers in one Adam step: T + 2 for PC and PC-ALM (T activity steps, the
    forward pass, the weight gradient), 2 for BP (forward and backward)."""
    if config.algo == "bp":
        return 2
    return (config.steps if config.steps is not None else 2 * config.depth) + 2


def cell_cost(config: TrainConfig, train_rows: int, input_dim: int = 0) -> float:
    """Estimated work of a cell, in units (module docstring): Adam steps x
    (STEP_FIXED_UNITS + passes x (L x N^2 + D x N) x B), with ``train_rows // B`` steps an epoch
    and D = ``input_dim`` (the input layer's share; 0 leaves it out)."""
    steps = config.epochs * (train_rows // config.batch_size)
    per_pass = (config.depth * config.width**2 + input_dim * config.width) * config.batch_size
    return steps * (STEP_FIXED_UNITS + passes_per_step(config) * per_pass)


def eta_seconds(finished_cost: float, elapsed_s: float, remaining_cost: float) -> float:
    """Seconds left at the rate measured so far: ``elapsed_s x remaining_cost / finished_cost``;
    at the reference rate (``REFERENCE_SECONDS_PER_UNIT``) before any cell has finished."""
    if finished_cost <= 0:
        return remaining_cost * REFERENCE_SECONDS_PER_UNIT
    return elapsed_s * remaining_cost / finished_cost


def in_words(seconds: float) -> str:
    """"42 s", "13 min" or "4.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
