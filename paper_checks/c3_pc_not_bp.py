"""C3 - PC is not BP: PC's linear equilibrium gradient is grad F*, F* = 1/(2B) r^T S^{-1} r
(DESIGN section 2), and its cosine to BP's gradient falls with depth.

Nets: for each depth, random linear nets of width WIDTH with N(0, 1/n_in) weights and a
batch of BATCH (seeded). PC's equilibrium comes from numerics' sparse solve; grad F* from
complex-step derivatives of the closed form F*; BP's gradient from numerics.bp_gradients.
The exact PC-ALM equilibrium is computed beside it for contrast (cosine 1 at every depth, C1).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.stats import spearmanr

import numerics
from paper_checks.measures import relative_error, worst
from paper_checks.verdict import CheckContext, Criterion, Verdict
from pcalm.engine.metrics import gradient_cosine
from pcalm.experiments.plotting import Line, plot_lines

DEPTHS = {"quick": (1, 2, 3, 4, 6, 8), "full": (1, 2, 3, 4, 6, 8, 12, 16)}
SEEDS = {"quick": 8, "full": 32}
WIDTH, BATCH = 4, 8
GRAD_F_TOLERANCE = 1e-8
DEPTH_ONE_TOLERANCE = 1e-12
MIN_DROP = 0.25


def measure(depth: int, seed: int) -> dict[str, float]:
    """PC's and PC-ALM's equilibrium gradient cosines to BP, and PC's distance to grad F*, on one net."""
    rng = np.random.default_rng(1000 * depth + seed)
    weights = [rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH) for _ in range(depth)]
    x, y = rng.standard_normal((BATCH, WIDTH)), rng.standard_normal((BATCH, WIDTH))
    bp = numerics.bp_gradients(weights, x, y).weight_grads
    pc = numerics.linear_equilibrium(weights, x, y, method="pc").weight_grads
    alm = numerics.linear_equilibrium(weights, x, y, method="pc-alm").weight_grads
    grad_f = numerics.complex_step_gradient(lambda ws: numerics.pc_free_energy(ws, x, y), weights)
    return {"pc_cosine": gradient_cosine(pc, bp), "pcalm_cosine": gradient_cosine(alm, bp), "pc_vs_grad_f": relative_error(pc, grad_f)}


def check(ctx: CheckContext) -> Verdict:
    """Cosine of PC's equilibrium gradient to BP's against depth, and PC = grad F*; judge C3."""
    start = time.perf_counter()
    depths = DEPTHS[ctx.tier]
    runs = {d: [measure(d, ctx.seed * 10_000 + s) for s in range(SEEDS[ctx.tier])] for d in depths}
    mean = {d: float(np.mean([r["pc_cosine"] for r in runs[d]])) for d in depths}
    spread = {d: float(np.std([r["pc_cosine"] for r in runs[d]])) for d in depths}
    alm_mean = {d: float(np.mean([r["pcalm_cosine"] for r in runs[d]])) for d in depths}
    worst_grad_f = worst(r["pc_vs_grad_f"] for rs in runs.values() for r in rs)
    rank_correlation = float(spearmanr(depths, [mean[d] for d in depths]).statistic)
    drop = mean[depths[1]] - mean[depths[-1]]

    figure = plot_lines(
        [
            Line(list(depths), [mean[d] for d in depths], label="PC equilibrium (mean +- std)", y_err=[spread[d] for d in depths]),
            Line(list(depths), [alm_mean[d] for d in depths], label="PC-ALM equilibrium", style="--s"),
        ],
        ctx.figure("c3_pc_cosine_vs_depth.png"),
        title=f"C3: cosine to BP's gradient, linear nets (width {WIDTH})",
        xlabel="depth L",
        ylabel="cosine to BP",
    )
    criteria = [
        Criterion("max relative distance of PC's equilibrium gradient to grad F*", worst_grad_f, "<=", GRAD_F_TOLERANCE, "float64 sparse solve vs complex-step derivative of the closed form; these nets have condition numbers below 1e4, so agreement is ~1e-12"),
        Criterion("|1 - PC cosine| at depth 1 (S = I)", abs(1.0 - mean[depths[0]]), "<=", DEPTH_ONE_TOLERANCE, "with one layer S = I and PC's gradient is BP's: equal to roundoff"),
        Criterion("Spearman correlation of depth and PC's mean cosine", rank_correlation, "<=", -0.8, "the cosine falls with depth: a strongly negative rank correlation over the depths"),
        Criterion(f"drop of PC's mean cosine from depth {depths[1]} to {depths[-1]}", drop, ">=", MIN_DROP, "three standard errors of the difference of two means (per-depth std up to 0.21 over 8 seeds: se about 0.076)"),
    ]
    evidence = {
        "width": WIDTH, "batch": BATCH, "seeds_per_depth": SEEDS[ctx.tier],
        "pc_mean_cosine": {str(d): mean[d] for d in depths}, "pc_cosine_std": {str(d): spread[d] for d in depths},
        "pcalm_mean_cosine": {str(d): alm_mean[d] for d in depths}, "worst_pc_vs_grad_f": worst_grad_f,
    }
    return Verdict("C3", "PC is not BP: PC's gradient is grad F*, its cosine to BP falls with depth", criteria, evidence, [str(figure)], time.perf_counter() - start)
