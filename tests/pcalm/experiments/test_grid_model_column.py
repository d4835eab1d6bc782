"""The grid's ``model`` column: conv grids write it, rows written before it read as the residual MLP."""

from __future__ import annotations

import csv

from pcalm.experiments.grid import FIELDS, RECORDED_LATER, GridSpec, read_cells, run_grid
from pcalm.experiments.training import TrainConfig


def test_rows_without_a_model_column_read_as_the_residual_mlp(tmp_path):
    path = tmp_path / "cells.csv"
    row = {"algo": "bp", "width": "8", "depth": "8", "activation": "relu", "seed": "0", "status": "ok", "test_acc": "0.9", "test_mse": "0.1",
           "test_ce": "0.3", "train_acc": "0.95", "train_mse": "0.05", "cosine_to_bp": "1.0", "eta": "nan", "lambda_max": "nan",
           "steps_done": "10", "wall_time_s": "1.0", "message": "", "node": "here"}
    legacy = tuple(name for name in FIELDS if name not in RECORDED_LATER)  # the columns of the first shipped rows
    assert tuple(row) == legacy and "model" in RECORDED_LATER
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=legacy)
        writer.writeheader()
        writer.writerow(row)
    (cell,) = read_cells(path)
    assert (cell.model, cell.width, cell.test_acc) == ("residual-mlp", 8, 0.9)


def test_a_conv_grid_writes_its_model_into_every_row_and_draws_its_heatmap(tmp_path):
    spec = GridSpec(widths=(2,), depths=(3,), activations=("relu",), algos=("bp", "pc-alm"), seeds=(0,), base=TrainConfig(model="conv", epochs=1, eta=0.1, batch_size=256))
    result = run_grid(spec, tmp_path, progress=False, keep_runs=True)
    assert [c.model for c in result.cells] == ["conv", "conv"]
    assert [c.model for c in read_cells(tmp_path / "cells.csv")] == ["conv", "conv"]
    assert (tmp_path / "runs" / "conv_pc-alm_N2_L3_relu_s0" / "summary.json").exists()
    assert [p.rsplit("/", 1)[-1] for p in result.figures] == ["heatmap_relu.png"]
