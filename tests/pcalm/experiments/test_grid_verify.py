"""Rows that say how to reproduce them (CPU model, threads, commit, code), and `pcalm grid --verify`:
a rerun of shipped cells is identical bit for bit on the same CPU and thread count, a rounding
difference on another CPU is reported as such, and a real difference is a failure. The grid's
rows without the per-epoch curve are those with it, bit for bit."""

from __future__ import annotations

import csv

import pytest

import pcalm.experiments.grid_verify
from pcalm.commands.cli import main
from pcalm.experiments.fingerprint import code_fingerprint
from pcalm.experiments.grid import GridSpec, read_cells, run_grid
from pcalm.runtime.machine_info import cpu_model
from pcalm.experiments.training import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = GridSpec(widths=(4,), depths=(2,), activations=("relu",), algos=("bp", "pc-alm"), seeds=(0, 1), base=TrainConfig(epochs=2))
CELLS = ["bp_N4_L2_relu_s1", "pc-alm_N4_L2_relu_s1"]


@pytest.fixture
def shipped(tmp_path):
    run_grid(TINY, tmp_path / "shipped", progress=False, threads=1)
    return tmp_path / "shipped"


def _edit(folder, name, column, value):
    """Set one column of the row of cell ``name`` in folder/cells.csv."""
    with open(folder / "cells.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if f"{row['algo']}_N{row['width']}_L{row['depth']}_{row['activation']}_s{row['seed']}" == name:
            row[column] = value
    with open(folder / "cells.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_rows_record_the_cpu_threads_commit_and_code(shipped):
    rows = read_cells(shipped / "cells.csv")
    assert {(r.cpu, r.threads, r.code) for r in rows} == {(cpu_model(), 1, code_fingerprint())}
    assert all(len(r.commit.removesuffix("+dirty")) in (0, 40) for r in rows)


def test_a_rerun_on_the_same_cpu_is_identical_bit_for_bit(shipped, capsys):
    assert main(["grid", "--verify", str(shipped), "--cells", *CELLS]) == 0
    out = capsys.readouterr().out
    assert out.count("identical bit for bit") == 2 and "another CPU" not in out


def test_a_difference_is_rounding_on_another_cpu_and_a_failure_on_the_same(shipped, capsys):
    row = {r.algo: r for r in read_cells(shipped / "cells.csv") if r.seed == 1}["pc-alm"]
    _edit(shipped, CELLS[1], "test_mse", repr(row.test_mse * (1 + 1e-6)))  # a last-digits change
    assert main(["grid", "--verify", str(shipped), "--cells", CELLS[1]]) == 1
    assert "DIFFERENT on the same CPU model and thread count" in capsys.readouterr().out
    _edit(shipped, CELLS[1], "cpu", "Another CPU")
    assert main(["grid", "--verify", str(shipped), "--cells", CELLS[1]]) == 0
    assert "rounding-level difference on another CPU" in capsys.readouterr().out
    _edit(shipped, CELLS[1], "test_mse", repr(row.test_mse * 1.1))  # 10%: not rounding
    assert main(["grid", "--verify", str(shipped), "--cells", CELLS[1]]) == 1
    assert "differs beyond rounding on another CPU" in capsys.readouterr().out


def test_rows_of_other_code_or_unknown_cells_are_refused(shipped, capsys, monkeypatch):
    assert main(["grid", "--verify", str(shipped), "--cells", "bp_N8_L2_relu_s0"]) == 2
    assert "has no row in" in capsys.readouterr().err
    monkeypatch.setattr(pcalm.experiments.grid_verify, "code_fingerprint", lambda: "0123456789ab")
    assert main(["grid", "--verify", str(shipped), "--cells", CELLS[0]]) == 2
    assert "rerun it from a worktree at" in capsys.readouterr().err


def test_the_rows_without_the_curve_are_the_rows_with_it(tmp_path):
    with_curve = run_grid(TINY, tmp_path / "curve", progress=False, threads=1, curve=True)
    without = run_grid(TINY, tmp_path / "end", progress=False, threads=1)
    strip = lambda cells: {c.key: {k: repr(v) for k, v in vars(c).items() if k != "wall_time_s"} for c in cells}  # noqa: E731
    assert strip(with_curve.cells) == strip(without.cells)
    lines = lambda out: len((out / "runs" / "pc-alm_N4_L2_relu_s0" / "metrics.csv").read_text().splitlines())  # noqa: E731
    assert (lines(tmp_path / "curve"), lines(tmp_path / "end")) == (4, 3)  # header + epochs 0-2, or 0 and 2
