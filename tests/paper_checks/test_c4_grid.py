"""C4's judgement on synthetic grids where the claim holds and where it is false, and its
resuming of a grid only under the same code (the real quick-tier grid runs in
tests/paper_checks/test_check_command.py)."""

import dataclasses

import numpy as np
import pytest

import paper_checks.c4_grid as c4
import pcalm.experiments.grid
from paper_checks import CheckContext
from paper_checks.c4_grid import judge
from pcalm.experiments.grid import CellResult, GridResult, GridSpec
from pcalm.experiments.training import TrainConfig

SPEC = GridSpec((8, 32), (8, 32), ("relu",), seeds=(0,), base=TrainConfig(epochs=1))


def cell(algo: str, width: int, depth: int, acc: float) -> CellResult:
    """A grid row with only the test accuracy set (NaN: a diverged run)."""
    keys = ("algo", "width", "depth", "activation", "seed", "status")
    metrics = {name: float("nan") for name in CellResult.__dataclass_fields__ if name not in keys}
    metrics["test_acc"] = acc
    return CellResult(algo=algo, width=width, depth=depth, activation="relu", seed=0, status="ok" if acc == acc else "diverged", **metrics)


def grid(accuracy: dict[str, dict[tuple[int, int], float]]) -> GridResult:
    cells = [cell(algo, width, depth, acc) for algo, table in accuracy.items() for (depth, width), acc in table.items()]
    return GridResult({}, cells, len(cells), 0, [])


GOOD = {
    "bp": {(8, 8): 0.52, (8, 32): 0.95, (32, 8): 0.24, (32, 32): 0.92},
    "pc": {(8, 8): 0.51, (8, 32): 0.95, (32, 8): 0.12, (32, 32): 0.73},
    "pc-alm": {(8, 8): 0.54, (8, 32): 0.94, (32, 8): 0.23, (32, 32): 0.91},
}


def verdict_of(accuracy, tested="pc-alm"):
    criteria, _ = judge("digits", SPEC, grid(accuracy), tested)
    return all(c.passed for c in criteria), criteria


def test_holds_on_the_measured_pattern():
    assert verdict_of(GOOD)[0]


def test_fails_when_the_tested_method_is_pc():
    assert not verdict_of(GOOD, tested="pc")[0]


@pytest.mark.parametrize(
    "change",
    [
        {"pc-alm": {(32, 32): 0.85}},  # 7 points below BP where BP learns
        {"pc-alm": {(32, 32): float("nan")}},  # diverged where BP learns
        {"pc": {(32, 32): 0.90}},  # PC not behind in the deep narrow corner where BP learns
        {"bp": {(8, 8): 0.2, (8, 32): 0.2, (32, 8): 0.2, (32, 32): 0.2}},  # BP learns nowhere
    ],
)
def test_fails_when_the_claim_is_false(change):
    accuracy = {algo: {**table, **change.get(algo, {})} for algo, table in GOOD.items()}
    assert not verdict_of(accuracy)[0]


def test_a_grid_of_other_code_is_trained_afresh(tmp_path, monkeypatch):
    tiny = GridSpec((4,), (2,), ("relu",), seeds=(0,), base=TrainConfig(dataset="digits", epochs=1))
    monkeypatch.setattr(c4, "grids", lambda ctx: [("digits", tiny)])
    ctx = CheckContext(out=tmp_path)
    assert c4.check(ctx).evidence["digits"]["ran"] == 3  # bp, pc, pc-alm
    assert c4.check(ctx).evidence["digits"]["resumed"] == 3  # same code: resumed
    monkeypatch.setattr(pcalm.experiments.grid, "code_fingerprint", lambda: "0123456789ab")
    again = c4.check(ctx).evidence["digits"]
    assert again["ran"] == 3 and again["resumed"] == 0


SEEDED = GridSpec((8, 32), (8, 32), ("relu",), seeds=(0, 1, 2), base=TrainConfig(epochs=1))


def seeded_grid(pc_alm_offsets: tuple[float, float, float]) -> GridResult:
    """GOOD's pattern over three seeds; PC-ALM's accuracy at L = N = 32 is BP's (0.92) plus the
    per-seed offsets, BP's seeds spread by +-1 point."""
    cells = []
    for seed, (spread, offset) in enumerate(zip((-0.01, 0.0, 0.01), pc_alm_offsets)):
        for algo, table in GOOD.items():
            for (depth, width), acc in table.items():
                value = acc + spread
                if (algo, depth, width) == ("pc-alm", 32, 32):
                    value = GOOD["bp"][(32, 32)] + spread + offset
                cells.append(dataclasses.replace(cell(algo, width, depth, value), seed=seed))
    return GridResult({}, cells, len(cells), 0, [])


def test_with_seeds_a_gap_is_judged_by_its_paired_standard_error():
    # Gaps 8, 0, 2 points: mean 3.3 points (above the margin), paired se 2.4 points: mean - 2 se
    # is below 3 points, so the seeds do not show a real gap: holds.
    criteria, evidence = judge("mnist5k", SEEDED, seeded_grid((-0.08, 0.0, -0.02)), "pc-alm")
    assert all(c.passed for c in criteria)
    assert evidence["bp_minus_tested"]["relu L=32 N=32"] == pytest.approx(0.1 / 3, abs=1e-12)
    assert evidence["bp_minus_tested_se"]["relu L=32 N=32"] == pytest.approx(np.std([0.08, 0.0, 0.02], ddof=1) / np.sqrt(3), abs=1e-12)
    assert "paired standard errors" in criteria[1].name and "one-sided" in criteria[1].reason
    # Gaps 6, 6.5, 7 points: consistent over seeds, mean - 2 se = 6 points > 3: fails.
    criteria, _ = judge("mnist5k", SEEDED, seeded_grid((-0.06, -0.065, -0.07)), "pc-alm")
    se = np.std([0.06, 0.065, 0.07], ddof=1) / np.sqrt(3)
    assert not criteria[1].passed and criteria[1].measured == pytest.approx(0.065 - 2 * se, abs=1e-12)
    # A missing or diverged seed of the tested method is an infinite gap.
    grid_result = seeded_grid((0.0, 0.0, 0.0))
    grid_result.cells = [c for c in grid_result.cells if (c.algo, c.width, c.depth, c.seed) != ("pc-alm", 32, 32, 2)]
    assert judge("mnist5k", SEEDED, grid_result, "pc-alm")[0][1].measured == float("inf")


def test_full_tier_runs_the_offline_sets_and_says_which_file_sets_it_left_out(tmp_path, monkeypatch):
    monkeypatch.setenv("PCALM_DATA_DIR", str(tmp_path / "no_data"))
    chosen, skipped = c4.full_datasets(str(tmp_path / "no_data"))
    assert chosen == {"digits": c4.QUICK_EPOCHS, "mnist5k": c4.MNIST5K_EPOCHS}
    assert set(skipped) == {"mnist", "fmnist"} and "missing" in skipped["mnist"]
    monkeypatch.setenv("PCALM_C4_DATASETS", "mnist5k")
    monkeypatch.setenv("PCALM_C4_ACTIVATIONS", "tanh")
    monkeypatch.setenv("PCALM_C4_SEEDS", "1")
    monkeypatch.setenv("PCALM_C4_WIDTHS", "8,16")
    (name, spec), = c4.grids(CheckContext(tier="full"))
    assert (name, spec.widths, spec.depths, spec.activations, spec.seeds) == ("mnist5k", (8, 16), c4.FULL_SIZES, ("tanh",), (1,))
    monkeypatch.setenv("PCALM_C4_SEEDS", "one")
    with pytest.raises(ValueError, match="PCALM_C4_SEEDS: expected comma-separated int values, got 'one'"):
        c4.grids(CheckContext(tier="full"))
    monkeypatch.setenv("PCALM_C4_DATASETS", "cifar")
    with pytest.raises(ValueError, match="PCALM_C4_DATASETS: unknown"):
        c4.grids(CheckContext(tier="full"))
