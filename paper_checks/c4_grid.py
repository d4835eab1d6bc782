"""C4 - nonlinear nets: over a width x depth grid, PC-ALM's test accuracy matches BP's; PC falls
behind in deep narrow nets.

Quick tier: the paper's residual MLP (relu, T = 2L, Adam lr = 1e-3 sqrt(N/L), batch 64, eta =
1/lambda_max) on scikit-learn's digits, widths x depths = QUICK_WIDTHS x QUICK_DEPTHS, seed 0,
QUICK_EPOCHS epochs (about 900 Adam steps, like one MNIST epoch: digits needs that many to train).
Full tier: the paper's grid (N, L in {8..128} x {linear, tanh, relu} x seeds 0-2) on the offline
data sets, digits (QUICK_EPOCHS epochs) and mnist5k (MNIST5K_EPOCHS epochs: about 900 Adam steps
too), plus Fashion-MNIST and MNIST (one epoch) when their files are in ``$PCALM_DATA_DIR``
(default ``data``; see docs/training.md); the evidence says which ran. ``PCALM_C4_DATASETS``,
``PCALM_C4_ACTIVATIONS``, ``PCALM_C4_SEEDS``, ``PCALM_C4_WIDTHS`` and ``PCALM_C4_DEPTHS``
(comma-separated) run a part of the full tier's grid, e.g. to measure its cost.

Verdict: in every cell where BP learns (mean test accuracy over the seeds >= BP_LEARNS), the
method under test is at most MARGIN below BP, judged with the seeds: the mean paired gap BP -
tested over the seeds, less SE_FACTOR of its paired standard errors (with one seed, the gap
itself); in the deep narrow corner (the largest depth, then the smallest width, among the cells
where BP learns) PC is at least PC_GAP below BP. On Ray, every cell must have run.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time

import numpy as np

from paper_checks.c4_trained_cosine import trained_cosine
from paper_checks.verdict import CheckContext, Criterion, Verdict
from pcalm.data import DataNotFoundError, load_dataset
from pcalm.experiments.grid import GridResult, GridSpec, mean_accuracy, run_grid, seed_runs, stale
from pcalm.experiments.grid_ray import ray_session
from pcalm.experiments.training import TrainConfig

QUICK_WIDTHS, QUICK_DEPTHS, QUICK_EPOCHS = (8, 32), (8, 32), 40
FULL_SIZES = (8, 16, 32, 64, 128)
FULL_ACTIVATIONS = ("linear", "tanh", "relu")
FULL_SEEDS = (0, 1, 2)
MNIST5K_EPOCHS = 15  # 62 steps an epoch on its 4000 training images
OFFLINE_DATASETS = {"digits": QUICK_EPOCHS, "mnist5k": MNIST5K_EPOCHS}
FILE_DATASETS = {"fmnist": 1, "mnist": 1}
BP_LEARNS = 0.5
MARGIN = 0.03
SE_FACTOR = 2.0
PC_GAP = 0.05


def _subset(name: str, default: tuple, kind: type = str) -> tuple:
    """The full tier's values of one axis: ``PCALM_C4_<name>`` (comma-separated) or the default."""
    text = os.environ.get(f"PCALM_C4_{name}", "").strip()
    try:
        return tuple(kind(v.strip()) for v in text.split(",") if v.strip()) if text else default
    except ValueError:
        raise ValueError(f"PCALM_C4_{name}: expected comma-separated {kind.__name__} values, got {text!r}") from None


def _wanted_datasets() -> tuple[str, ...]:
    wanted = _subset("DATASETS", tuple(OFFLINE_DATASETS) + tuple(FILE_DATASETS))
    unknown = [name for name in wanted if name not in OFFLINE_DATASETS and name not in FILE_DATASETS]
    if unknown:
        raise ValueError(f"PCALM_C4_DATASETS: unknown {unknown}; choose from {list(OFFLINE_DATASETS) + list(FILE_DATASETS)}")
    return wanted


def check_inputs(ctx: CheckContext) -> None:
    """Refuse malformed ``PCALM_C4_*`` values (ValueError) before any check runs."""
    if ctx.tier == "full":
        _wanted_datasets()
        _subset("WIDTHS", FULL_SIZES, int), _subset("DEPTHS", FULL_SIZES, int)
        _subset("ACTIVATIONS", FULL_ACTIVATIONS), _subset("SEEDS", FULL_SEEDS, int)


def full_datasets(data_dir: str) -> tuple[dict[str, int], dict[str, str]]:
    """The full tier's data sets with their epochs, and those left out with the reason (files
    missing from ``data_dir``); ``PCALM_C4_DATASETS`` narrows the choice."""
    wanted = _wanted_datasets()
    chosen, skipped = {}, {}
    for name in wanted:
        if name in FILE_DATASETS:
            try:
                load_dataset(name, data_dir)
            except DataNotFoundError as error:
                skipped[name] = str(error)
                continue
        chosen[name] = {**OFFLINE_DATASETS, **FILE_DATASETS}[name]
    return chosen, skipped


def grids(ctx: CheckContext) -> list[tuple[str, GridSpec]]:
    """(dataset, grid) pairs of the tier."""
    if ctx.tier == "quick":
        base = TrainConfig(dataset="digits", epochs=QUICK_EPOCHS, activation="relu")
        return [("digits", GridSpec(QUICK_WIDTHS, QUICK_DEPTHS, ("relu",), seeds=(ctx.seed,), base=base))]
    data_dir = os.environ.get("PCALM_DATA_DIR", "data")
    chosen, _ = full_datasets(data_dir)
    widths, depths = _subset("WIDTHS", FULL_SIZES, int), _subset("DEPTHS", FULL_SIZES, int)
    activations, seeds = _subset("ACTIVATIONS", FULL_ACTIVATIONS), _subset("SEEDS", FULL_SEEDS, int)
    return [(name, GridSpec(widths, depths, activations, seeds=seeds, base=TrainConfig(dataset=name, epochs=epochs, data_dir=data_dir))) for name, epochs in chosen.items()]


def paired_gap(result: GridResult, tested: str, activation: str, depth: int, width: int) -> tuple[float, float]:
    """Mean over the seeds of the paired gap BP - tested in test accuracy, and its standard
    error std(gaps, ddof=1) / sqrt(seeds) (0 with one seed); (inf, 0) when a run diverged or is missing."""
    bp = {c.seed: c.test_acc for c in seed_runs(result.cells, "bp", activation, depth, width)}
    other = {c.seed: c.test_acc for c in seed_runs(result.cells, tested, activation, depth, width)}
    gaps = [bp[s] - other[s] for s in bp if s in other]
    if not gaps or len(gaps) < len(bp) or not all(math.isfinite(g) for g in gaps):
        return math.inf, 0.0
    se = float(np.std(gaps, ddof=1) / math.sqrt(len(gaps))) if len(gaps) > 1 else 0.0
    return float(np.mean(gaps)), se


def judge(dataset: str, spec: GridSpec, result: GridResult, tested: str) -> tuple[list[Criterion], dict]:
    """Criteria and evidence of one grid: worst BP - tested gap where BP learns (less SE_FACTOR
    paired standard errors over the seeds), BP - PC in the corner."""
    learning = [(a, d, w) for a in spec.activations for d in spec.depths for w in spec.widths if mean_accuracy(result.cells, "bp", a, d, w) >= BP_LEARNS]
    stats = {f"{a} L={d} N={w}": paired_gap(result, tested, a, d, w) for a, d, w in learning}
    judged = {cell: mean - SE_FACTOR * se for cell, (mean, se) in stats.items()}
    worst_cell = max(judged, key=judged.get) if judged else None
    worst_gap = math.inf if worst_cell is None else judged[worst_cell]
    corner = max(learning, key=lambda cell: (cell[1], -cell[2]), default=(spec.activations[-1], max(spec.depths), min(spec.widths)))
    pc_gap = mean_accuracy(result.cells, "bp", *corner) - mean_accuracy(result.cells, "pc", *corner)
    if len(spec.seeds) == 1:
        gap_name = f"{dataset}: worst BP - {tested} test accuracy where BP learns (diverged = inf)"
        gap_reason = "3 points: about 2.5 standard errors of a paired accuracy difference on digits' 359 test images (se about 1.2 points); on MNIST/FMNIST's 10000 test images the se is about 0.2 points"
    else:
        gap_name = f"{dataset}: worst (mean BP - {tested} over seeds {list(spec.seeds)} - {SE_FACTOR:g} paired standard errors) where BP learns (diverged = inf)"
        gap_reason = (
            f"a cell counts against the claim only when its mean gap exceeds {MARGIN:.0%} by more than {SE_FACTOR:g} paired standard errors over the seeds "
            f"(about a one-sided 90% bound with 3 seeds, 2 degrees of freedom): seed-to-seed spread of one cell, not only test-set noise, "
            f"decides whether a gap is real; 3 points is about 2.5 standard errors of a paired difference on 1000 (mnist5k) or 359 (digits) test images"
        )
    criteria = [
        Criterion(f"{dataset}: cells where BP learns (test accuracy >= {BP_LEARNS:.0%})", float(len(learning)), ">=", 1.0, "the comparison needs at least one cell where BP itself learns"),
        Criterion(gap_name, worst_gap, "<=", MARGIN, gap_reason),
        Criterion(f"{dataset}: BP - PC test accuracy in the deep narrow corner where BP learns ({corner[0]} L={corner[1]} N={corner[2]})", pc_gap, ">=", PC_GAP, "5 points: about 4 standard errors of a paired difference; the paper's deep narrow cell shows 10"),
    ]
    accuracy = {algo: {f"{a} L={d} N={w}": mean_accuracy(result.cells, algo, a, d, w) for a in spec.activations for d in spec.depths for w in spec.widths} for algo in spec.algos}
    evidence = {"bp_minus_tested": {cell: mean for cell, (mean, _) in stats.items()}, "worst_cell": worst_cell, "test_accuracy": accuracy}
    if len(spec.seeds) > 1:
        evidence["bp_minus_tested_se"] = {cell: se for cell, (_, se) in stats.items()}
    return criteria, evidence


def check(ctx: CheckContext) -> Verdict:
    """Train the tier's grid(s) with BP, PC and PC-ALM (resuming the cells that the same code and
    settings finished) and judge C4."""
    start = time.perf_counter()
    criteria, evidence, figures, failed = [], {}, [], []
    if ctx.tier == "full":
        chosen, skipped = full_datasets(os.environ.get("PCALM_DATA_DIR", "data"))
        evidence["datasets_run"], evidence["datasets_skipped"] = list(chosen), skipped
        print(f"[C4] full tier on {', '.join(chosen) or 'no data set'}" + "".join(f"; {name} skipped (files missing)" for name in skipped), file=sys.stderr, flush=True)
    with ray_session(ctx.ray):  # one local Ray for all the grids
        for dataset, spec in grids(ctx):
            out = ctx.out / f"c4_grid_{dataset}_{ctx.tier}"
            if stale(out, spec):  # cells of other code or settings: judge only what this code computes
                print(f"[C4] {out} holds cells run by other code or settings: training the grid afresh", file=sys.stderr, flush=True)
                shutil.rmtree(out)
            result = run_grid(spec, out, progress=True, ray=ctx.ray, threads=ctx.threads)
            dataset_criteria, dataset_evidence = judge(dataset, spec, result, ctx.method)
            criteria += dataset_criteria
            evidence[dataset] = {**dataset_evidence, "epochs": spec.base.epochs, "ran": result.ran, "resumed": result.skipped}
            figures += result.figures
            failed += [f"{dataset} {f.cell} on {f.node}: {f.error}" for f in result.failed]
    if ctx.ray is not None:
        criteria.append(Criterion("cells whose Ray task failed (no result)", float(len(failed)), "<=", 0.0, "a cell that did not run is no evidence either way: the claim is judged on complete grids"))
        evidence["failed_cells"] = failed
    cosine_criteria, cosine_evidence, cosine_figures = trained_cosine(ctx)  # the trained-net cosine (c4_trained_cosine)
    criteria, figures = criteria + cosine_criteria, figures + cosine_figures
    evidence.update(cosine_evidence)
    return Verdict("C4", "Nonlinear nets: PC-ALM matches BP over the grid; PC falls behind deep and narrow", criteria, evidence, figures, time.perf_counter() - start)
