"""Rerun shipped grid cells and compare them with their rows (``pcalm grid --verify DIR --cells ...``).

A cell of a grid folder (``cells.csv`` and ``grid.json``, e.g. docs/results/c4_full/mnist5k) is
trained again with its row's seed and torch thread count and the folder's shared settings, and
its metrics are compared with the row's. A run is a function of its config, its thread count and
the CPU's arithmetic (:mod:`pcalm.experiments.training`): on a CPU of the row's model with the
row's thread count the numbers must be equal bit for bit; on another CPU, sums may round in
another order, so a small difference is reported as rounding, not as a failure. Only the code
that wrote the row can rerun it: a row of other code (its ``code`` fingerprint) is refused with
the commit to check out.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path

from pcalm.experiments.fingerprint import code_fingerprint
from pcalm.experiments.grid import CellResult, cell_name, read_cells
from pcalm.runtime.machine_info import cpu_model
from pcalm.experiments.training import TrainConfig, train

COMPARED = ("status", "test_acc", "test_mse", "test_ce", "train_acc", "train_mse", "cosine_to_bp", "eta", "lambda_max", "steps_done")
# Largest relative difference of a metric still called rounding on another CPU: float32 sums in
# another order differ by about 1e-7 relative per operation; over a run's hundreds of Adam steps
# they grow, but a stable run stays far below 1e-3 (and an accuracy moves by a test image or so).
ROUNDING = 1e-3


@dataclass
class Comparison:
    """One rerun cell: its name, the shipped and the rerun row, whether CPU model and thread count
    match the row's, the largest relative metric difference, and the outcome in words."""

    cell: str
    shipped: CellResult
    rerun: CellResult
    same_machine: bool
    largest_difference: float
    outcome: str

    @property
    def ok(self) -> bool:
        """Bit for bit on the same CPU model and thread count; at most rounding on another."""
        return self.largest_difference == 0.0 or (not self.same_machine and self.largest_difference <= ROUNDING)


def _difference(a, b) -> float:
    """Relative difference |a - b| / max(|a|, |b|) of two metrics (0 when equal, NaN == NaN; inf for a changed status)."""
    if isinstance(a, str):
        return 0.0 if a == b else math.inf
    if repr(float(a)) == repr(float(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


def verify_cells(folder: str | Path, names: list[str]) -> list[Comparison]:
    """Rerun the cells ``names`` (e.g. ``bp_N8_L8_relu_s0``) of the grid in ``folder`` and
    compare each with its row.

    Raises:
        ValueError: a name with no row, a folder without grid.json, or a row of other code."""
    folder = Path(folder)
    rows = {cell_name(row_config(row, {})): row for row in read_cells(folder / "cells.csv", repair=False)}
    if not (folder / "grid.json").is_file():
        raise ValueError(f"verify: {folder} has no grid.json (the grid's shared settings)")
    settings = json.loads((folder / "grid.json").read_text())
    comparisons = []
    for name in names:
        if name not in rows:
            raise ValueError(f"cells: {name!r} has no row in {folder / 'cells.csv'} (e.g. {', '.join(sorted(rows)[:3])})")
        row = rows[name]
        here = code_fingerprint()
        if row.code != here or settings.get("code") != here:
            commit = row.commit or "the commit that wrote it (not recorded in this row)"
            raise ValueError(f"cells: {name} ran on code {row.code or settings.get('code')}, this pcalm is {here}: rerun it from a worktree at {commit} (git worktree add ../at-rows {commit.removesuffix('+dirty')})")
        config = row_config(row, settings)
        result = train(config, None, progress=False, threads=row.threads or None, curve=False)
        rerun = CellResult.from_run(result, platform.node(), cpu_model())
        same = rerun.cpu == row.cpu and rerun.threads == row.threads
        largest = max(_difference(getattr(row, f), getattr(rerun, f)) for f in COMPARED)
        if largest == 0.0:
            outcome = "identical bit for bit" + ("" if same else f" (on another CPU or thread count: {rerun.cpu}, {rerun.threads} threads)")
        elif same:
            outcome = f"DIFFERENT on the same CPU model and thread count ({row.cpu}, {row.threads} threads): largest relative difference {largest:.3g}; the run is not reproducible"
        elif largest <= ROUNDING:
            outcome = f"rounding-level difference on another CPU or thread count ({rerun.cpu}, {rerun.threads} threads; the row's: {row.cpu or 'not recorded'}, {row.threads or 'not recorded'}): largest relative difference {largest:.3g} <= {ROUNDING:g}"
        else:
            outcome = f"differs beyond rounding on another CPU or thread count ({rerun.cpu}, {rerun.threads} threads; the row's: {row.cpu or 'not recorded'}, {row.threads or 'not recorded'}): largest relative difference {largest:.3g} > {ROUNDING:g}"
        comparisons.append(Comparison(name, row, rerun, same, largest, outcome))
    return comparisons


def row_config(row: CellResult, settings: dict) -> TrainConfig:
    """The TrainConfig of a row under a grid's shared ``settings`` (grid.json; {}: defaults)."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    shared = {k: v for k, v in settings.items() if k in fields}
    return TrainConfig(**shared, algo=row.algo, width=row.width, depth=row.depth, activation=row.activation, seed=row.seed)
