"""C4's heatmaps read at a glance: the difference panels are BP minus each method, on one colour
scale symmetric about 0 that both share, and the title names the seeds in words."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pcalm.experiments.grid
from pcalm.experiments.grid import CellResult, GridSpec, draw_heatmaps
from pcalm.experiments.training import TrainConfig

# Accuracies per (algo, depth, width): BP ahead of PC-ALM by 1 to 4 points, of PC by up to 20.
ACCURACY = {
    "bp": {(2, 4): 0.90, (2, 8): 0.92, (3, 4): 0.88, (3, 8): 0.91},
    "pc-alm": {(2, 4): 0.89, (2, 8): 0.90, (3, 4): 0.86, (3, 8): 0.87},
    "pc": {(2, 4): 0.85, (2, 8): 0.88, (3, 4): 0.68, (3, 8): 0.80},
}


def cell(algo: str, depth: int, width: int, seed: int, accuracy: float) -> CellResult:
    return CellResult(
        algo=algo, width=width, depth=depth, activation="relu", seed=seed, status="ok", test_acc=accuracy, test_mse=math.nan,
        test_ce=math.nan, train_acc=math.nan, train_mse=math.nan, cosine_to_bp=math.nan, eta=math.nan, lambda_max=math.nan,
        steps_done=0, wall_time_s=0.0, message="", node="test",
    )


# Per-seed offsets around those means (they cancel in the mean; seed 0 alone is off by up to 3 points).
OFFSET = {"bp": (-0.01, 0.01), "pc-alm": (0.03, -0.03), "pc": (-0.02, 0.02)}


@pytest.fixture
def panels(monkeypatch, tmp_path):
    drawn = {}
    monkeypatch.setattr(pcalm.experiments.grid, "plot_heatmaps", lambda panels, path, ncols=None, suptitle="": drawn.update(panels=panels, suptitle=suptitle) or path)
    spec = GridSpec(widths=(4, 8), depths=(2, 3), activations=("relu",), seeds=(0, 1), base=TrainConfig(epochs=1))
    cells = [cell(a, d, w, s, acc + OFFSET[a][s]) for a, table in ACCURACY.items() for (d, w), acc in table.items() for s in spec.seeds]
    draw_heatmaps(spec, cells, tmp_path)
    return drawn


def test_differences_are_bp_minus_each_method_on_one_symmetric_scale(panels):
    differences = {p.title: p for p in panels["panels"] if "test accuracy" not in p.title}
    assert set(differences) == {"BP - PC-ALM (points)", "BP - PC (points)"}
    largest = 100 * max(abs(ACCURACY["bp"][c] - ACCURACY[m][c]) for m in ("pc-alm", "pc") for c in ACCURACY["bp"])
    for title, panel in differences.items():
        method = "pc-alm" if "PC-ALM" in title else "pc"
        expected = [[100 * (ACCURACY["bp"][(d, w)] - ACCURACY[method][(d, w)]) for w in (4, 8)] for d in (2, 3)]
        np.testing.assert_allclose(panel.values, expected, atol=1e-9)  # one sign: positive = BP ahead
        assert (panel.vmin, panel.vmax, panel.center) == pytest.approx((-largest, largest, 0.0))
        assert panel.cmap == "RdBu_r"  # red for positive differences (BP ahead)


def test_accuracy_panels_are_the_means_over_the_seeds(panels):
    accuracy = {p.title: p for p in panels["panels"] if "test accuracy" in p.title}
    for algo, title in (("bp", "BP"), ("pc-alm", "PC-ALM"), ("pc", "PC")):
        expected = [[100 * ACCURACY[algo][(d, w)] for w in (4, 8)] for d in (2, 3)]
        np.testing.assert_allclose(accuracy[f"{title} test accuracy (%)"].values, expected, atol=1e-9)


def test_title_names_the_seeds_in_words(panels):
    assert panels["suptitle"] == "digits, relu: test accuracy, mean over seeds 0 and 1"
    assert "[" not in panels["suptitle"]
