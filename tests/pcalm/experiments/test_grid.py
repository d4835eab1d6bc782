"""The grid: end to end on a 2x2 digits grid, resume after a kill, diverged cells, settings check, plots."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

import pcalm.experiments.grid
from pcalm.experiments import fingerprint
from pcalm.experiments.fingerprint import code_fingerprint
from pcalm.experiments.grid import GridSpec, read_cells, run_grid, stale
from pcalm.experiments.plotting import Heatmap, Line, plot_heatmaps, plot_lines
from pcalm.experiments.training import TrainConfig
from tests.helpers import child_process, run_process

REPO = Path(__file__).resolve().parents[3]
# Widths 4, 8 x depth 2 x seeds 0, 1, relu, the three algorithms: 12 cells. Two seeds, so that
# resuming must tell a cell's seeds apart.
GRID_ARGS = ["--widths", "4", "8", "--depths", "2", "--activations", "relu", "--seeds", "0", "1", "--epochs", "2", "--threads", "1", "--quiet"]
SMALL = GridSpec(widths=(4, 8), depths=(2, 3), activations=("relu",), seeds=(0,), base=TrainConfig(epochs=2))


pytestmark = pytest.mark.usefixtures("one_thread")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _grid_command(out):
    return [sys.executable, "-m", "pcalm.commands.cli", "grid", *GRID_ARGS, "--out", str(out)]


def test_small_grid_runs_end_to_end_and_a_rerun_does_nothing(tmp_path):
    result = run_grid(SMALL, tmp_path, progress=False)
    assert (result.ran, result.skipped) == (12, 0)
    keys = {cell.key for cell in result.cells}
    assert keys == {(a, w, d, "relu", 0) for a in ("bp", "pc", "pc-alm") for w in (4, 8) for d in (2, 3)}
    assert all(cell.status == "ok" and 0 <= cell.test_acc <= 1 and cell.steps_done == 44 for cell in result.cells)
    assert all(math.isnan(c.eta) == (c.algo == "bp") for c in result.cells)
    image = matplotlib.image.imread(tmp_path / "heatmap_relu.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert len(_rows(tmp_path / "grid_summary.csv")) == 12
    assert (tmp_path / "runs" / "pc-alm_N8_L3_relu_s0" / "summary.json").exists()
    again = run_grid(SMALL, tmp_path, progress=False)
    assert (again.ran, again.skipped) == (0, 12) and len(_rows(tmp_path / "cells.csv")) == 12


def test_a_killed_grid_resumes_with_only_the_missing_cells(tmp_path):
    out = tmp_path / "grid"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with child_process(_grid_command(out), 400, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        cells = out / "cells.csv"
        deadline = time.monotonic() + 300
        while not (cells.exists() and len(_rows(cells)) >= 1):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no row appeared in 300 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    before = cells.read_text().splitlines(keepends=True)
    done = len(read_cells(cells))
    assert 1 <= done < 12, f"the kill came after {done} of 12 cells: it must land mid-grid for this test to mean anything"
    finished = run_process(_grid_command(out), 600, cwd=tmp_path, env=env)
    assert finished.returncode == 0, finished.stderr
    assert f"ran {12 - done} cells, skipped {done} already done" in finished.stdout
    after = cells.read_text().splitlines(keepends=True)
    assert after[: done + 1] == before[: done + 1]  # header and finished rows untouched
    rows = _rows(cells)
    assert len(after) == 13 and len({tuple(r[k] for k in ("algo", "width", "depth", "seed")) for r in rows}) == 12
    by_seed = {(r["algo"], r["width"], r["seed"]): r["test_mse"] for r in rows}
    assert all(by_seed[(a, w, "0")] != by_seed[(a, w, "1")] for a, w, _ in by_seed)  # the seeds' numbers differ


def test_a_half_written_last_row_is_dropped_and_rerun(tmp_path):
    spec = GridSpec(widths=(4,), depths=(2,), activations=("relu",), algos=("bp", "pc"), seeds=(0,), base=TrainConfig(epochs=1))
    run_grid(spec, tmp_path, progress=False)
    text = (tmp_path / "cells.csv").read_text()
    (tmp_path / "cells.csv").write_text(text[: len(text) - 20])  # the pc row cut mid-line
    assert [c.algo for c in read_cells(tmp_path / "cells.csv")] == ["bp"]
    result = run_grid(spec, tmp_path, progress=False)
    assert (result.ran, [c.algo for c in result.cells]) == (1, ["bp", "pc"])


def test_a_diverged_cell_is_a_row_not_a_stop(tmp_path):
    # eta = 10 overflows PC's activities at depth 8 (see test_training); BP has no eta and trains.
    spec = GridSpec(widths=(8,), depths=(8,), activations=("relu",), algos=("bp", "pc"), seeds=(0,), base=TrainConfig(epochs=1, eta=10.0))
    result = run_grid(spec, tmp_path, progress=False)
    status = {c.algo: c for c in result.cells}
    assert status["bp"].status == "ok" and status["pc"].status == "diverged"
    assert math.isnan(status["pc"].test_acc) and "finite" in status["pc"].message
    assert _rows(tmp_path / "grid_summary.csv")[1]["diverged"] == "1"
    assert (tmp_path / "heatmap_relu.png").exists()
    saved = json.loads((tmp_path / "grid_result.json").read_text())  # strict JSON: NaN written as null
    assert [c["test_acc"] for c in saved["cells"]][1] is None and saved["cells"][0]["eta"] is None


def test_resuming_with_other_shared_settings_is_refused(tmp_path):
    run_grid(GridSpec(widths=(4,), depths=(2,), activations=("relu",), algos=("bp",), seeds=(0,), base=TrainConfig(epochs=1)), tmp_path, progress=False)
    # Whether missing files may be downloaded does not change the numbers: not a setting to keep.
    again = run_grid(GridSpec(widths=(4,), depths=(2,), activations=("relu",), algos=("bp",), seeds=(0,), base=TrainConfig(epochs=1, download=True)), tmp_path, progress=False)
    assert again.ran == 0
    with pytest.raises(ValueError, match="other settings \\(epochs\\)"):
        run_grid(GridSpec(widths=(4,), depths=(2,), activations=("relu",), algos=("bp",), seeds=(0,), base=TrainConfig(epochs=2)), tmp_path, progress=False)


def test_resuming_cells_of_other_code_is_refused(tmp_path, monkeypatch):
    spec = GridSpec(widths=(4,), depths=(2,), activations=("relu",), algos=("bp",), seeds=(0,), base=TrainConfig(epochs=1))
    assert not stale(tmp_path, spec)  # nothing there yet
    run_grid(spec, tmp_path, progress=False)
    assert not stale(tmp_path, spec) and run_grid(spec, tmp_path, progress=False).ran == 0
    monkeypatch.setattr(pcalm.experiments.grid, "code_fingerprint", lambda: "0123456789ab")
    assert stale(tmp_path, spec)
    with pytest.raises(ValueError, match="other settings \\(code\\) \\(code: pcalm's sources changed"):
        run_grid(spec, tmp_path, progress=False)


def test_the_code_fingerprint_follows_the_sources(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub" / "k.cpp").write_text("int k;\n")
    (tmp_path / "notes.md").write_text("not a source\n")
    first = code_fingerprint(tmp_path)
    assert len(first) == 12 and code_fingerprint(tmp_path) == first
    (tmp_path / "notes.md").write_text("edited\n")
    fingerprint._fingerprint.cache_clear()
    assert code_fingerprint(tmp_path) == first  # only .py and .cpp files count
    (tmp_path / "sub" / "k.cpp").write_text("int k = 2;\n")
    fingerprint._fingerprint.cache_clear()
    assert code_fingerprint(tmp_path) != first
    assert len(code_fingerprint()) == 12  # the installed package's own


def test_grid_spec_refuses_repeats_and_bad_cells():
    with pytest.raises(ValueError, match="widths"):
        GridSpec(widths=(4, 4))
    with pytest.raises(ValueError, match="algo"):
        GridSpec(algos=("bp", "adam"))
    with pytest.raises(ValueError, match="depth"):
        GridSpec(depths=(1,))
    with pytest.raises(ValueError, match="seeds_per_cell: cell \\('relu', 3, 4\\) is not in the grid"):
        GridSpec(widths=(4,), depths=(2,), seeds_per_cell=((("relu", 3, 4), (0, 1)),))
    with pytest.raises(ValueError, match="seeds_per_cell: need at least one seed and no repeats"):
        GridSpec(widths=(4,), depths=(2,), seeds_per_cell=((("relu", 2, 4), (1, 1)),))


def test_a_cell_may_run_more_seeds_than_the_rest():
    spec = GridSpec(widths=(4, 8), depths=(2,), activations=("relu",), algos=("bp",), seeds=(0,), seeds_per_cell=((("relu", 2, 8), (0, 1)),))
    assert [(c.width, c.seed) for c in spec.cells()] == [(4, 0), (8, 0), (8, 1)]
    assert spec.seeds_of("relu", 2, 8) == (0, 1) and spec.seeds_of("relu", 2, 4) == (0,)


def test_plotting_helper_writes_heatmaps_and_lines(tmp_path):
    values = np.array([[0.1, np.nan], [0.3, 0.4]])
    path = plot_heatmaps([Heatmap(values, ["a", "b"], ["x", "y"], title="t", nan_label="div"), Heatmap(values - 0.2, ["a", "b"], ["x", "y"], center=0.0)], tmp_path / "sub" / "h.png")
    assert matplotlib.image.imread(path).shape[2] in (3, 4)
    lines = plot_lines([Line([1, 2, 4], [1.0, 0.5, 0.2], "pc", y_err=[0.1, 0.1, 0.1]), Line([1, 2, 4], [1.0, 0.9, 0.8], "pc-alm")], tmp_path / "l.png", logx=True, logy=True)
    assert lines.stat().st_size > 1000
    with pytest.raises(ValueError, match="do not match"):
        plot_heatmaps([Heatmap(values, ["a"], ["x", "y"])], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="3 x values but 2"):
        plot_lines([Line([1, 2, 3], [1, 2])], tmp_path / "bad.png")


def test_a_cells_csv_of_other_columns_is_refused_clearly(tmp_path):
    spec = GridSpec(widths=(4,), depths=(2,), activations=("relu",), algos=("bp",), seeds=(0,), base=TrainConfig(epochs=1))
    run_grid(spec, tmp_path, progress=False)
    rows = _rows(tmp_path / "cells.csv")
    assert rows[0]["node"]  # the machine that trained the cell
    old = [name for name in rows[0] if name != "node"]  # a file of the pcalm before the node column
    with open(tmp_path / "cells.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, old, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ValueError, match="columns are not this pcalm's \\(missing: node;"):
        run_grid(spec, tmp_path, progress=False)


def test_rows_written_before_the_way_column_still_read_and_a_resumed_grid_adds_it(tmp_path):
    spec = GridSpec(widths=(4,), depths=(3,), activations=("relu",), algos=("bp", "pc"), seeds=(0,), base=TrainConfig(epochs=1))
    run_grid(spec, tmp_path, progress=False)
    rows = _rows(tmp_path / "cells.csv")
    assert [row["way"] for row in rows] == [rows[0]["way"]] * 2 and rows[0]["way"] in {"fused", "eager"}
    old = [name for name in rows[0] if name != "way"]  # cells.csv of the pcalm before the way column, the pc cell not yet run
    with open(tmp_path / "cells.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, old, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows[:1])
    assert [(c.algo, c.way) for c in read_cells(tmp_path / "cells.csv")] == [("bp", "")]
    result = run_grid(spec, tmp_path, progress=False)
    assert result.ran == 1 and [(c.algo, c.way) for c in result.cells] == [("bp", ""), ("pc", rows[1]["way"])]
    assert list(_rows(tmp_path / "cells.csv")[0]) == list(rows[0])  # the file now has every column, rows aligned
