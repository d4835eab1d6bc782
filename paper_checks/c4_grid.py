"""C4 - nonlinear nets: over a width x depth grid, PC-ALM's test accuracy matches BP's; PC falls
behind in deep narrow nets.

Quick tier: the paper's residual MLP (relu, T = 2L, Adam lr = 1e-3 sqrt(N/L), batch 64, eta =
1/lambda_max) on scikit-learn's digits, widths x depths = QUICK_WIDTHS x QUICK_DEPTHS, seed 0,
QUICK_EPOCHS epochs (about 900 Adam steps, like one MNIST epoch: digits needs that many to train).
Full tier: the paper's grid (N, L in {8..128} x {linear, tanh, relu} x seeds 0-2, one epoch) on
Fashion-MNIST and MNIST, read from ``$PCALM_DATA_DIR`` (default ``data``; see docs/training.md).

Verdict: in every cell where BP learns (test accuracy >= BP_LEARNS), the method under test is
at most MARGIN below BP; in the deep narrow corner (the largest depth, then the smallest width,
among the cells where BP learns) PC is at least PC_GAP below BP.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

from paper_checks.verdict import CheckContext, Criterion, Verdict
from pcalm.grid import GridResult, GridSpec, mean_accuracy, run_grid, stale
from pcalm.training import TrainConfig

QUICK_WIDTHS, QUICK_DEPTHS, QUICK_EPOCHS = (8, 32), (8, 32), 40
FULL_SIZES = (8, 16, 32, 64, 128)
FULL_DATASETS = ("fmnist", "mnist")
BP_LEARNS = 0.5
MARGIN = 0.03
PC_GAP = 0.05


def grids(ctx: CheckContext) -> list[tuple[str, GridSpec]]:
    """(dataset, grid) pairs of the tier."""
    if ctx.tier == "quick":
        base = TrainConfig(dataset="digits", epochs=QUICK_EPOCHS, activation="relu")
        return [("digits", GridSpec(QUICK_WIDTHS, QUICK_DEPTHS, ("relu",), seeds=(ctx.seed,), base=base))]
    data_dir = os.environ.get("PCALM_DATA_DIR", "data")
    return [(name, GridSpec(FULL_SIZES, FULL_SIZES, ("linear", "tanh", "relu"), seeds=(0, 1, 2), base=TrainConfig(dataset=name, epochs=1, data_dir=data_dir))) for name in FULL_DATASETS]


def judge(dataset: str, spec: GridSpec, result: GridResult, tested: str) -> tuple[list[Criterion], dict]:
    """Criteria and evidence of one grid: worst BP - tested gap where BP learns, BP - PC in the corner."""
    learning = [(a, d, w) for a in spec.activations for d in spec.depths for w in spec.widths if mean_accuracy(result.cells, "bp", a, d, w) >= BP_LEARNS]
    gaps = {f"{a} L={d} N={w}": mean_accuracy(result.cells, "bp", a, d, w) - mean_accuracy(result.cells, tested, a, d, w) for a, d, w in learning}
    worst_cell = max(gaps, key=lambda k: gaps[k] if gaps[k] == gaps[k] else float("inf")) if gaps else None
    worst_gap = float("inf") if worst_cell is None or gaps[worst_cell] != gaps[worst_cell] else gaps[worst_cell]
    corner = max(learning, key=lambda cell: (cell[1], -cell[2]), default=(spec.activations[-1], max(spec.depths), min(spec.widths)))
    pc_gap = mean_accuracy(result.cells, "bp", *corner) - mean_accuracy(result.cells, "pc", *corner)
    criteria = [
        Criterion(f"{dataset}: cells where BP learns (test accuracy >= {BP_LEARNS:.0%})", float(len(learning)), ">=", 1.0, "the comparison needs at least one cell where BP itself learns"),
        Criterion(f"{dataset}: worst BP - {tested} test accuracy where BP learns (diverged = inf)", worst_gap, "<=", MARGIN, "3 points: about 2.5 standard errors of a paired accuracy difference on digits' 359 test images (se about 1.2 points); on MNIST/FMNIST's 10000 test images the se is about 0.2 points"),
        Criterion(f"{dataset}: BP - PC test accuracy in the deep narrow corner where BP learns ({corner[0]} L={corner[1]} N={corner[2]})", pc_gap, ">=", PC_GAP, "5 points: about 4 standard errors of a paired difference; the paper's deep narrow cell shows 10"),
    ]
    accuracy = {algo: {f"{a} L={d} N={w}": mean_accuracy(result.cells, algo, a, d, w) for a in spec.activations for d in spec.depths for w in spec.widths} for algo in spec.algos}
    return criteria, {"bp_minus_tested": gaps, "worst_cell": worst_cell, "test_accuracy": accuracy}


def check(ctx: CheckContext) -> Verdict:
    """Train the tier's grid(s) with BP, PC and PC-ALM (resuming the cells that the same code and
    settings finished) and judge C4."""
    start = time.perf_counter()
    criteria, evidence, figures = [], {}, []
    for dataset, spec in grids(ctx):
        out = ctx.out / f"c4_grid_{dataset}_{ctx.tier}"
        if stale(out, spec):  # cells of other code or settings: judge only what this code computes
            print(f"[C4] {out} holds cells run by other code or settings: training the grid afresh", file=sys.stderr, flush=True)
            shutil.rmtree(out)
        result = run_grid(spec, out, progress=True)
        dataset_criteria, dataset_evidence = judge(dataset, spec, result, ctx.method)
        criteria += dataset_criteria
        evidence[dataset] = {**dataset_evidence, "epochs": spec.base.epochs, "ran": result.ran, "resumed": result.skipped}
        figures += result.figures
    return Verdict("C4", "Nonlinear nets: PC-ALM matches BP over the grid; PC falls behind deep and narrow", criteria, evidence, figures, time.perf_counter() - start)
