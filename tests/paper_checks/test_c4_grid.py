"""C4's judgement on synthetic grids where the claim holds and where it is false, and its
resuming of a grid only under the same code (the real quick-tier grid runs in
tests/paper_checks/test_check_command.py)."""

import pytest

import paper_checks.c4_grid as c4
import pcalm.grid
from paper_checks import CheckContext
from paper_checks.c4_grid import judge
from pcalm.grid import CellResult, GridResult, GridSpec
from pcalm.training import TrainConfig

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
    monkeypatch.setattr(pcalm.grid, "code_fingerprint", lambda: "0123456789ab")
    again = c4.check(ctx).evidence["digits"]
    assert again["ran"] == 3 and again["resumed"] == 0
