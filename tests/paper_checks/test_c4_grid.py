"""C4's judgement on synthetic grids where the claim holds and where it is false, and its
resuming of a grid only under the same code (the real quick-tier grid runs in
tests/paper_checks/test_check_command.py)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import paper_checks.c4_grid as c4
import pcalm.experiments.grid
from paper_checks import CheckContext, write_results
from pcalm.commands.cli import main
from paper_checks.c4_grid import judge
from paper_checks.equivalence import claim_state, non_inferiority, paired_interval, superiority
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
    """The quick tier's smoke judgement of a one-seed grid: whether every criterion holds."""
    criteria, _ = judge("digits", SPEC, grid(accuracy), tested, smoke=True)
    return all(c.passed for c in criteria), criteria


def test_smoke_test_holds_on_the_measured_pattern_and_says_it_is_a_smoke_test():
    holds, criteria = verdict_of(GOOD)
    assert holds and "smoke test, not an equivalence test" in criteria[1].name


def test_smoke_test_fails_when_the_tested_method_is_pc():
    assert not verdict_of(GOOD, tested="pc")[0]


def test_a_one_seed_gap_beyond_the_margin_but_within_noise_is_no_smoke_failure():
    # Seed 1 of the quick grid: PC-ALM 3.6 points behind BP at L = N = 32 (one seed, no interval).
    assert verdict_of({**GOOD, "pc-alm": {**GOOD["pc-alm"], (32, 32): GOOD["bp"][(32, 32)] - 0.036}})[0]


@pytest.mark.parametrize(
    "change",
    [
        {"pc-alm": {(32, 32): 0.80}},  # 12 points below BP where BP learns: beyond any one-seed noise
        {"pc-alm": {(32, 32): float("nan")}},  # diverged where BP learns
        {"pc": {(32, 32): 0.90}},  # PC not behind in the deep narrow corner where BP learns
        {"bp": {(8, 8): 0.2, (8, 32): 0.2, (32, 8): 0.2, (32, 32): 0.2}},  # BP learns nowhere
    ],
)
def test_smoke_test_fails_when_the_claim_is_grossly_false(change):
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
T_95_DF2 = 2.919986  # one-sided 95% quantile of Student's t, 2 degrees of freedom (printed tables)


@pytest.mark.parametrize(
    "gaps, verdict",
    [((0.5, 0.7, 0.3), "matches"), ((6.1, 5.8, 6.3), "behind"), ((-1.0, 2.0, 5.0), "undecided"), ((-9.0, -7.0, -8.0), "matches")],
)
def test_a_cells_verdict_from_its_paired_interval(gaps, verdict):
    interval = paired_interval([g / 100 for g in gaps])
    half = T_95_DF2 * np.std(gaps, ddof=1) / np.sqrt(3) / 100
    assert (interval.low, interval.high) == pytest.approx((np.mean(gaps) / 100 - half, np.mean(gaps) / 100 + half), abs=1e-7)
    assert non_inferiority(interval, 0.03) == verdict


def test_one_seed_or_a_diverged_seed():
    assert non_inferiority(paired_interval([0.001]), 0.03) == "undecided"  # no spread: no interval
    assert non_inferiority(paired_interval([0.0, float("inf"), 0.0]), 0.03) == "behind"  # a lost seed
    assert superiority(paired_interval([0.19, 0.25, 0.13]), 0.05) == "holds"
    assert superiority(paired_interval([0.01, 0.0, 0.02]), 0.05) == "fails"
    assert superiority(paired_interval([0.0, 0.05, 0.10]), 0.05) == "undecided"
    with pytest.raises(ValueError, match="level"):
        paired_interval([0.0, 0.1], level=0.4)


@pytest.mark.parametrize(
    "cells, part, state",
    [
        (["matches", "matches"], "holds", "holds"),
        (["matches", "undecided"], "holds", "undecided"),
        (["matches", "matches"], "undecided", "undecided"),
        (["matches", "behind"], "holds", "fails"),
        (["undecided", "behind"], "undecided", "fails"),
        (["matches", "matches"], "fails", "fails"),
        ([], "holds", "undecided"),
    ],
)
def test_the_claims_verdict_follows_from_the_cells(cells, part, state):
    assert claim_state(cells, part) == state


def seeded_grid(pc_alm_gaps: tuple[float, float, float], pc_gaps: tuple[float, float, float] = (0.19, 0.25, 0.13)) -> GridResult:
    """GOOD's pattern over three seeds (BP's seeds spread by +-1 point); PC-ALM's per-seed gaps to
    BP are ``pc_alm_gaps`` at L = N = 32 and 1 point elsewhere, PC's ``pc_gaps`` at L = N = 32."""
    cells = []
    for seed, spread in enumerate((-0.01, 0.0, 0.01)):
        for (depth, width), bp in GOOD["bp"].items():
            corner = (depth, width) == (32, 32)
            values = {"bp": bp + spread, "pc-alm": bp + spread - (pc_alm_gaps[seed] if corner else 0.01), "pc": bp + spread - (pc_gaps[seed] if corner else 0.0)}
            cells += [dataclasses.replace(cell(algo, width, depth, value), seed=seed) for algo, value in values.items()]
    return GridResult({}, cells, len(cells), 0, [])


def states(result: GridResult, tested: str = "pc-alm") -> tuple[list[str], dict]:
    criteria, evidence = judge("mnist5k", SEEDED, result, tested)
    return [c.state for c in criteria], evidence


def test_the_full_judgement_holds_fails_or_is_undecided_with_the_cells():
    # BP learns at L=8 N=8 (mean 0.52), L=8 N=32 and L=32 N=32; the corner is L=32 N=32.
    holds, evidence = states(seeded_grid((0.005, 0.007, 0.003)))
    assert holds == ["holds"] * 4 and evidence["claim_state"] == "holds"
    assert evidence["cells"]["relu L=32 N=32"]["verdict"] == "matches" and evidence["pc_part"]["verdict"] == "holds"
    behind, evidence = states(seeded_grid((0.061, 0.058, 0.063)))
    assert behind[1] == "fails" and evidence["cells"]["relu L=32 N=32"]["verdict"] == "behind"
    noisy, evidence = states(seeded_grid((-0.01, 0.02, 0.05)))
    assert noisy == ["holds", "holds", "undecided", "holds"] and evidence["claim_state"] == "undecided"
    pc_unclear, evidence = states(seeded_grid((0.005, 0.007, 0.003), pc_gaps=(0.0, 0.05, 0.10)))
    assert pc_unclear[3] == "undecided" and evidence["pc_part"]["verdict"] == "undecided"
    pc_level, _ = states(seeded_grid((0.005, 0.007, 0.003), pc_gaps=(0.01, 0.0, 0.02)))
    assert pc_level[3] == "fails"
    grid_result = seeded_grid((0.0, 0.0, 0.0))  # a missing seed of the tested method: an infinite gap
    grid_result.cells = [c for c in grid_result.cells if (c.algo, c.width, c.depth, c.seed) != ("pc-alm", 32, 32, 2)]
    assert states(grid_result)[0][1] == "fails"


# Test accuracies of the quick grid (digits, relu, 40 epochs) measured over seeds 0-4 on this
# machine: (depth, width) -> per-seed accuracy of each algorithm.
MEASURED = {
    "bp": {(8, 8): (0.5153, 0.3788, 0.5209, 0.4930, 0.3760), (8, 32): (0.9526, 0.9471, 0.9415, 0.9443, 0.9805), (32, 8): (0.2423, 0.2897, 0.3175, 0.2479, 0.2507), (32, 32): (0.9220, 0.9387, 0.9499, 0.9387, 0.9443)},
    "pc-alm": {(8, 8): (0.5376, 0.4819, 0.5376, 0.5209, 0.4206), (8, 32): (0.9415, 0.9331, 0.9248, 0.9359, 0.9694), (32, 8): (0.2340, 0.3259, 0.3259, 0.2841, 0.2646), (32, 32): (0.9081, 0.9025, 0.9415, 0.9192, 0.9276)},
    "pc": {(8, 8): (0.5125, 0.4652, 0.5543, 0.5515, 0.4568), (8, 32): (0.9499, 0.9443, 0.9387, 0.9387, 0.9749), (32, 8): (0.1253, 0.1978, 0.1950, 0.1866, 0.1365), (32, 32): (0.7326, 0.6852, 0.8245, 0.7939, 0.7967)},
}


def measured_grid() -> GridResult:
    cells = [dataclasses.replace(cell(algo, w, d, acc), seed=s) for algo, table in MEASURED.items() for (d, w), accs in table.items() for s, acc in enumerate(accs)]
    return GridResult({}, cells, len(cells), 0, [])


def test_the_quick_grid_passes_its_smoke_test_at_every_measured_seed_and_pc_fails_it():
    for seed in range(5):
        one = {algo: {cell: accs[seed] for cell, accs in table.items()} for algo, table in MEASURED.items()}
        assert verdict_of(one)[0] and not verdict_of(one, tested="pc")[0], seed


def test_a_full_tier_like_grid_with_pc_as_the_method_does_not_hold():
    five = dataclasses.replace(SEEDED, seeds=(0, 1, 2, 3, 4))
    states = lambda result, tested="pc-alm": ([c.state for c in judge("digits", five, result, tested)[0]], judge("digits", five, result, tested)[1])  # noqa: E731
    pc_states, evidence = states(measured_grid(), tested="pc")
    assert "fails" in pc_states and evidence["cells"]["relu L=32 N=32"]["verdict"] == "behind"
    alm_states, evidence = states(measured_grid())
    assert "fails" not in alm_states and evidence["cells"]["relu L=32 N=32"]["verdict"] != "behind"


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


def replayed_training(gaps: dict[tuple[int, int], list[float]], trained: list):
    """A stand-in for pcalm's train: BP at 0.9, PC-ALM ``gaps[(depth, width)][seed]`` points
    below it, PC 19 points below; each call is appended to ``trained``."""
    from pcalm.experiments.training import EpochMetrics, TrainResult

    def train(config, out=None, progress=True, data=None, threads=None, curve=True):
        trained.append((config.algo, config.depth, config.width, config.seed))
        below = {"bp": 0.0, "pc": 0.19, "pc-alm": gaps[(config.depth, config.width)][config.seed % 3] / 100}[config.algo]
        acc = 0.9 - below + 0.001 * config.seed  # seeds differ; paired gaps are what is judged
        final = EpochMetrics(1, 1, 0.1, 0.1, acc, 0.1, 0.1, acc, 1.0, 0.0)
        return TrainResult(config, "ok", "", None, None, 1e-3, 1, history=[final], threads=1)

    return train


def test_only_undecided_cells_get_seeds_and_a_rerun_trains_nothing(tmp_path, monkeypatch):
    spec = GridSpec((8, 32), (8,), ("relu",), seeds=(0, 1, 2), base=TrainConfig(dataset="digits", epochs=1))
    trained = []
    # L=8 N=8 noisy (gaps -1, 2, 5 points, repeating): undecided at every seed count up to 6;
    # L=8 N=32 within the margin (0.5, 0.7, 0.3): matches with 3 seeds.
    monkeypatch.setattr(pcalm.experiments.grid, "train", replayed_training({(8, 8): [-1.0, 2.0, 5.0], (8, 32): [0.5, 0.7, 0.3]}, trained))
    monkeypatch.setattr(c4, "grids", lambda ctx: [("digits", spec)])
    ctx = CheckContext(tier="full", out=tmp_path, max_seeds=5)
    verdict = c4.check(ctx)
    seeds = lambda w: sorted({s for a, d, width, s in trained if width == w})  # noqa: E731
    assert seeds(8) == [0, 1, 2, 3, 4] and seeds(32) == [0, 1, 2]  # the cap, 5 seeds; the decided cell none
    assert len(trained) == len(set(trained)) == 3 * (5 + 3)  # no cell trained twice
    assert verdict.verdict == "undecided" and "relu L=8 N=8" in verdict.criteria[2].undecided
    assert verdict.evidence["digits"]["cells"]["relu L=8 N=32"]["verdict"] == "matches"
    assert verdict.evidence["settings"]["max_seeds"] == 5 and "sqrt" in verdict.evidence["settings"]["max_seeds_reason"]
    assert "seeds up to 5" in verdict.criteria[2].reason and "one-sided 95%" in verdict.criteria[2].reason  # cap and level, with reasons
    trained.clear()
    again = c4.check(ctx)  # resuming: every row is reused
    assert trained == [] and again.evidence["digits"]["ran"] == 0 and again.evidence["digits"]["rows"] == 24


def test_judging_shipped_rows_trains_nothing_and_reads_rows_without_the_later_columns(tmp_path, monkeypatch):
    from pcalm.experiments.grid import FIELDS, RECORDED_LATER

    trained = []
    monkeypatch.setattr(pcalm.experiments.grid, "train", replayed_training({(8, 8): [0.5, 0.7, 0.3], (8, 32): [0.5, 0.7, 0.3]}, trained))
    spec = GridSpec((8, 32), (8,), ("relu",), seeds=(0, 1, 2), base=TrainConfig(dataset="digits", epochs=1))
    pcalm.experiments.grid.run_grid(spec, tmp_path / "grid", progress=False)
    shipped = tmp_path / "shipped" / "digits"
    shipped.mkdir(parents=True)
    rows = (tmp_path / "grid" / "cells.csv").read_text().splitlines()
    keep = [i for i, name in enumerate(FIELDS) if name not in RECORDED_LATER]  # rows of an older pcalm
    (shipped / "cells.csv").write_text("\n".join(",".join(line.split(",")[i] for i in keep) for line in rows) + "\n")
    trained.clear()
    monkeypatch.setattr(c4, "run_grid", lambda *a, **k: pytest.fail("judging must not train"))
    verdict = c4.check(CheckContext(tier="full", out=tmp_path / "check", judge=tmp_path / "shipped"))
    assert trained == [] and verdict.verdict == "holds", [c.to_dict() for c in verdict.criteria]
    assert verdict.evidence["digits"]["rows"] == 18 and set(verdict.evidence["digits"]["cells"]) == {"relu L=8 N=8", "relu L=8 N=32"}
    assert sorted(Path(f).name for f in verdict.figures) == ["c4_verdict_digits_relu.png", "heatmap_relu.png"]
    _, report = write_results([verdict], CheckContext(tier="full", out=tmp_path / "check"))
    # Gaps 0.5, 0.7, 0.3 points: mean 0.5, bounds 0.5 -/+ 2.92 x 0.2 / sqrt(3) (every cell in the report).
    assert "| relu L=8 N=32 | 3 | 0.50 | [0.16, 0.84] | matches |" in report.read_text()
    assert main(["check", "--full", "--only", "C4", "--judge", str(tmp_path / "shipped"), "--out", str(tmp_path / "cli")]) == 0
    assert main(["check", "--full", "--only", "C4", "--max-seeds", "1", "--out", str(tmp_path / "cli")]) == 2  # an interval needs 2 seeds
    with pytest.raises(ValueError, match="holds no <dataset>/cells.csv"):
        c4.check_inputs(CheckContext(tier="full", out=tmp_path / "check", judge=tmp_path / "nothing"))
    assert main(["check", "--full", "--only", "C4", "--judge", str(tmp_path / "nothing"), "--out", str(tmp_path / "cli")]) == 2
