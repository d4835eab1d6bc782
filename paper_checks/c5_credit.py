"""C5 - ballistic credit: PC-ALM's credit travels like a wave (arrival time ~ distance), PC's
diffuses (arrival time ~ distance^2); at the end of the paper's budget T = 2L PC-ALM's per-layer
gradients are close to BP's in every layer, PC's concentrate near the output.

Setup: the paper's residual MLP (relu), a digits batch, eta = 1/lambda_max, alpha = rho = 1.
Credit of hidden layer l at activity step t: ||e_l(t)|| (Frobenius over the batch). The
arrival time at distance k = L - l below the output is the first step at which the credit
reaches half of its value at the end of a long run (``LONG_RUN`` x L steps: the method's
own limit; for PC-ALM this is BP's backward signal, C1). The exponent is the slope of
log(arrival) against log(k) over 2 <= k <= L/2 (layers the input clamp does not reach).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

import pcalm
from paper_checks.methods import method_under_test
from paper_checks.verdict import CheckContext, Criterion, Verdict
from pcalm.data import load_dataset
from pcalm.experiments.plotting import Band, Heatmap, Line, Threshold, plot_heatmaps, plot_lines

SHAPES = {"quick": dict(depth=64, width=16, batch=32), "full": dict(depth=128, width=32, batch=64)}
LONG_RUN = 20  # the long run lasts LONG_RUN * L activity steps
WAVE_EXPONENT = (0.7, 1.4)
PC_MIN_EXPONENT = 1.5
GRADIENT_RATIO_FLOOR = 1 / 3
PC_CONCENTRATION_CEILING = 0.1


def credit_trace(model: pcalm.ResidualMLP, x: torch.Tensor, y: torch.Tensor, algo) -> np.ndarray:
    """||e_l(t)|| for every activity step t (rows) and hidden layer l (columns)."""
    rows: list[torch.Tensor] = []
    pcalm.infer(model, x, y, algo, observer=lambda step, z, lam, e: rows.append(torch.stack([e_l.norm() for e_l in e[:-1]])))
    return torch.stack(rows).double().cpu().numpy()


def arrival_times(trace: np.ndarray, fraction: float = 0.5) -> dict[int, int]:
    """First step at which each hidden layer's credit reaches ``fraction`` of its final value,
    keyed by the distance k = L - l from the output."""
    depth = trace.shape[1] + 1
    arrivals = {}
    for column in range(trace.shape[1]):
        hits = np.nonzero(trace[:, column] >= fraction * trace[-1, column])[0]
        if hits.size:
            arrivals[depth - (column + 1)] = int(hits[0])
    return arrivals


def fit_range(depth: int) -> tuple[int, int]:
    """The distances 2 <= k <= L/2 the exponent is fitted over (layers the input clamp does not reach)."""
    return 2, depth // 2


def arrival_fit(arrivals: dict[int, int], depth: int) -> tuple[float, float]:
    """Slope and intercept of the least-squares line log(arrival time) = slope log(k) + intercept
    over the fit range; NaN for both with fewer than three points."""
    low, high = fit_range(depth)
    ks = np.array([k for k in sorted(arrivals) if low <= k <= high and arrivals[k] > 0], dtype=float)
    if ks.size < 3:
        return float("nan"), float("nan")
    times = np.array([arrivals[int(k)] for k in ks], dtype=float)
    slope, intercept = np.polyfit(np.log(ks), np.log(times), 1)
    return float(slope), float(intercept)


def fitted_exponent(arrivals: dict[int, int], depth: int) -> float:
    """Slope of log(arrival time) vs log(distance) over 2 <= k <= L/2."""
    return arrival_fit(arrivals, depth)[0]


def check(ctx: CheckContext) -> Verdict:
    """Compute arrival exponents and end-of-budget gradient ratios; judge C5."""
    start = time.perf_counter()
    shape = SHAPES[ctx.tier]
    depth = shape["depth"]
    x, y = load_dataset("digits").training_batch(shape["batch"], ctx.seed)
    model = pcalm.ResidualMLP(x.shape[1], shape["width"], depth, y.shape[1], "relu", seed=ctx.seed, dtype=torch.float64)
    eta = 1.0 / pcalm.activity_lambda_max(model, x, y)
    tested = method_under_test(ctx, eta, steps=LONG_RUN * depth)
    baseline = pcalm.PC(eta=eta, steps=LONG_RUN * depth)
    traces = {"tested": credit_trace(model, x, y, tested), "pc": credit_trace(model, x, y, baseline)}
    arrivals = {name: arrival_times(trace) for name, trace in traces.items()}
    exponents = {name: fitted_exponent(a, depth) for name, a in arrivals.items()}

    bp = pcalm.infer(model, x, y, pcalm.BP(fast=False))  # autograd: the independent reference
    budget = pcalm.infer(model, x, y, method_under_test(ctx, eta))  # T = 2L, the paper's budget
    pc_budget = pcalm.infer(model, x, y, pcalm.PC(eta=eta))
    bp_norms = np.array([float(g.norm()) for g in bp.weight_grads])
    ratios = np.array([float(g.norm()) for g in budget.weight_grads]) / bp_norms
    pc_ratios = np.array([float(g.norm()) for g in pc_budget.weight_grads]) / bp_norms

    label = tested.name
    figures = [str(_plot_credit(ctx, traces, depth, label)), str(_plot_arrivals(ctx, arrivals, depth, label)), str(_plot_ratios(ctx, ratios, pc_ratios, label))]
    low, high = WAVE_EXPONENT
    criteria = [
        Criterion(f"{label} arrival exponent (lower bound)", exponents["tested"], ">=", low, "a damped wave reaches distance k after ~k steps (exponent 1); the band [0.7, 1.4] excludes diffusion's 2"),
        Criterion(f"{label} arrival exponent (upper bound)", exponents["tested"], "<=", high, "upper end of the wave band; diffusion (PC) measures about 1.8-2.0"),
        Criterion("PC arrival exponent", exponents["pc"], ">=", PC_MIN_EXPONENT, "PC's credit diffuses (exponent 2); 1.5 is the midpoint between wave and diffusion"),
        Criterion("PC median |grad_l| / |BP grad_l| over the lower half of the layers at T = 2L", float(np.median(pc_ratios[: depth // 2])), "<=", PC_CONCENTRATION_CEILING, "PC's gradients concentrate near the output: in the lower half they stay below a tenth of BP's"),
        Criterion(f"{label} min over layers of |grad_l| / |BP grad_l| at T = 2L", float(ratios.min()), ">=", GRADIENT_RATIO_FLOOR, "close to BP in every layer: within a factor 3 of BP's gradient norm, the lowest layer included"),
    ]
    evidence = {
        "depth": depth, "width": shape["width"], "batch": shape["batch"], "activation": "relu", "eta": eta,
        "long_run_steps": LONG_RUN * depth, "exponents": exponents,
        "arrival_times": {name: {str(k): t for k, t in a.items() if k in (2, 4, 8, 16, 32, 64)} for name, a in arrivals.items()},
        "gradient_ratio_to_bp": ratios.tolist(), "pc_gradient_ratio_to_bp": pc_ratios.tolist(),
    }
    return Verdict("C5", "Ballistic credit: wave-like for PC-ALM, diffusive for PC", criteria, evidence, figures, time.perf_counter() - start)


def _plot_credit(ctx: CheckContext, traces: dict[str, np.ndarray], depth: int, label: str):
    panels = []
    for name, title in (("tested", label), ("pc", "pc")):
        trace = traces[name][: 2 * depth + 1]  # the paper's budget T = 2L
        normalised = trace / np.maximum(traces[name][-1], 1e-300)
        panels.append(Heatmap(normalised.T, list(range(1, depth)), list(range(trace.shape[0])), title=f"{title}: ||e_l(t)|| / long-run value", xlabel="activity step t", ylabel="hidden layer l", colorbar_label="credit (1 = long-run value)", vmin=0.0, vmax=1.5, annotate=False))
    return plot_heatmaps(panels, ctx.figure("c5_credit_heatmaps.png"), suptitle=f"C5: credit switched on at the output (L = {depth}, relu)")


def _plot_arrivals(ctx: CheckContext, arrivals: dict[str, dict[int, int]], depth: int, label: str):
    """Arrival times, each method's fitted line over the fit range, and reference slopes 1 and 2
    drawn through the fitted lines at the start of the range."""
    low, high = fit_range(depth)
    lines = []
    fits = {name: arrival_fit(arrivals[name], depth) for name in arrivals}
    for (name, title), colour in zip((("tested", label), ("pc", "pc")), ("tab:blue", "tab:orange")):
        ks = sorted(k for k in arrivals[name] if k >= 1)
        slope, intercept = fits[name]
        lines.append(Line(ks, [max(arrivals[name][k], 0.5) for k in ks], label=f"{title}: arrival times", style="o", colour=colour))
        if np.isfinite(slope):
            span = np.array([low, high], dtype=float)
            lines.append(Line(span.tolist(), np.exp(intercept + slope * np.log(span)).tolist(), label=f"{title}: fitted slope {slope:.2f}", style="-", colour=colour))
    for (name, reference, words) in (("tested", 1, "wave"), ("pc", 2, "diffusion")):
        slope, intercept = fits[name]
        if np.isfinite(slope):
            ks = np.array([1.0, float(depth)])
            start = math.exp(intercept + slope * math.log(low))
            lines.append(Line(ks.tolist(), (start * (ks / low) ** reference).tolist(), label=f"reference slope {reference} ({words})", style="--", colour="grey" if reference == 1 else "black"))
    return plot_lines(
        lines, ctx.figure("c5_arrival_times.png"), title=f"C5: arrival time of half the credit (L = {depth})", xlabel="distance k from the output (layers)",
        ylabel="activity steps", logx=True, logy=True, band=Band(low, high, f"fit range {low} <= k <= {high}"),
    )


def _plot_ratios(ctx: CheckContext, ratios: np.ndarray, pc_ratios: np.ndarray, label: str):
    """Per-layer gradient norms over BP's, with the two thresholds the verdict applies."""
    layers = list(range(1, len(ratios) + 1))
    lines = [Line(layers, ratios.tolist(), label=label, colour="tab:blue"), Line(layers, pc_ratios.tolist(), label="pc", colour="tab:orange")]
    thresholds = [
        Threshold(GRADIENT_RATIO_FLOOR, f"{label} floor 1/3 (every layer)", colour="tab:blue"),
        Threshold(PC_CONCENTRATION_CEILING, "PC ceiling 0.1 (median of the lower half)", colour="tab:orange"),
    ]
    return plot_lines(
        lines, ctx.figure("c5_gradient_ratios.png"), title="C5: |grad W_l| / |BP grad W_l| at T = 2L", xlabel="layer l (1 = input side)", ylabel="ratio to BP",
        logy=True, thresholds=thresholds, band=Band(1, len(ratios) // 2, "lower half (PC's median)"),
    )
