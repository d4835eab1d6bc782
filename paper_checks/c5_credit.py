"""C5 - ballistic credit: PC-ALM's credit travels like a wave (arrival time ~ distance), PC's
diffuses (arrival time ~ distance^2); at the end of the paper's budget T = 2L PC-ALM's per-layer
gradients are close to BP's in every layer, PC's concentrate near the output.

Setup: the paper's residual MLP (relu), a digits batch, eta = 1/lambda_max, alpha = rho = 1.
Credit of hidden layer l at activity step t: ||e_l(t)|| (Frobenius over the batch). The
arrival time at distance k = L - l below the output is the first step at which the credit
reaches half of its value at the end of a long run of ``LONG_RUN`` x L steps. For PC-ALM that
run is at its own limit (the credit is BP's backward signal, C1). For PC it is not: PC's slowest
mode needs about L^2 steps (C7 runs 16 L^2), so its long-run credit here is PC's state after
20 L steps, smaller in the far layers than PC's limit. Half of a smaller value is reached earlier,
so the far layers' arrivals come early and PC's fitted exponent is biased down: against the
claim (PC's diffusion), never for it. The exponent is the slope of log(arrival) against log(k)
over 2 <= k <= L/2 (layers the input clamp does not reach).

At the end of the paper's budget, T = 2L, PC-ALM's gradient is judged close to BP's in every
layer by direction and by size: each layer's cosine to BP's layer gradient at least
LAYER_COSINE_FLOOR, and its norm within a factor 3 of BP's, from both sides.

What makes C5 fail: a diffusive method in PC-ALM's place (``--algo pc``: exponent near 2, lower
layers' gradients near 0), a gradient pointing away from BP's in any layer (a negated gradient
has cosine -1), or one too small or too large (a factor 3) in any layer.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

import pcalm
from paper_checks.methods import method_under_test
from pcalm.engine.metrics import layer_cosines
from paper_checks.verdict import CheckContext, Criterion, Verdict
from pcalm.data import load_dataset
from pcalm.experiments.plotting import Band, Heatmap, Line, Threshold, plot_heatmaps, plot_lines

SHAPES = {"quick": dict(depth=64, width=16, batch=32), "full": dict(depth=128, width=32, batch=64)}
LONG_RUN = 20  # the long run lasts LONG_RUN * L activity steps
WAVE_EXPONENT = (0.7, 1.4)
PC_MIN_EXPONENT = 1.5
GRADIENT_RATIO_FLOOR = 1 / 3
GRADIENT_RATIO_CEILING = 3.0
LAYER_COSINE_FLOOR = 0.5
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
    ratios, pc_ratios = norm_ratios(budget.weight_grads, bp.weight_grads), norm_ratios(pc_budget.weight_grads, bp.weight_grads)
    cosines, pc_cosines = np.array(layer_cosines(budget.weight_grads, bp.weight_grads)), np.array(layer_cosines(pc_budget.weight_grads, bp.weight_grads))

    label = tested.name
    figures = [str(_plot_credit(ctx, traces, depth, label)), str(_plot_arrivals(ctx, arrivals, depth, label)), str(_plot_ratios(ctx, ratios, pc_ratios, label))]
    low, high = WAVE_EXPONENT
    criteria = [
        Criterion(f"{label} arrival exponent (lower bound)", exponents["tested"], ">=", low, "a damped wave reaches distance k after ~k steps (exponent 1); the band [0.7, 1.4] excludes diffusion's 2"),
        Criterion(f"{label} arrival exponent (upper bound)", exponents["tested"], "<=", high, "upper end of the wave band; diffusion (PC) measures about 1.8-2.0"),
        Criterion("PC arrival exponent", exponents["pc"], ">=", PC_MIN_EXPONENT, "PC's credit diffuses (exponent 2); 1.5 is the midpoint between wave and diffusion"),
        Criterion("PC median |grad_l| / |BP grad_l| over the lower half of the layers at T = 2L", float(np.median(pc_ratios[: depth // 2])), "<=", PC_CONCENTRATION_CEILING, "PC's gradients concentrate near the output: in the lower half they stay below a tenth of BP's"),
    ]
    criteria += budget_criteria(label, ratios, cosines)
    evidence = {
        "depth": depth, "width": shape["width"], "batch": shape["batch"], "activation": "relu", "eta": eta,
        "long_run_steps": LONG_RUN * depth, "exponents": exponents,
        "arrival_times": {name: {str(k): t for k, t in a.items() if k in (2, 4, 8, 16, 32, 64)} for name, a in arrivals.items()},
        "long_run": f"{LONG_RUN} L steps: PC-ALM's limit (BP's backward signal); PC's state after {LONG_RUN} L steps, not its limit (about L^2 steps)",
        "gradient_ratio_to_bp": ratios.tolist(), "pc_gradient_ratio_to_bp": pc_ratios.tolist(),
        "layer_cosine_to_bp": cosines.tolist(), "pc_layer_cosine_to_bp": pc_cosines.tolist(), "min_layer_cosine": float(cosines.min()), "pc_min_layer_cosine": float(pc_cosines.min()),
    }
    return Verdict("C5", "Ballistic credit: wave-like for PC-ALM, diffusive for PC", criteria, evidence, figures, time.perf_counter() - start)


def norm_ratios(grads, bp_grads) -> np.ndarray:
    """|grad_l| / |BP grad_l| per layer (Frobenius norms)."""
    return np.array([float(g.norm()) for g in grads]) / np.array([float(g.norm()) for g in bp_grads])


def budget_criteria(label: str, ratios: np.ndarray, cosines: np.ndarray) -> list[Criterion]:
    """C5's criteria on the method under test's per-layer gradients at T = 2L: direction (every
    layer's cosine to BP's layer gradient) and size (every layer's norm ratio, from both sides)."""
    return [
        Criterion(f"{label} min over layers of cos(grad_l, BP grad_l) at T = 2L", float(np.min(cosines)), ">=", LAYER_COSINE_FLOOR,
                  "close to BP in every layer by direction: within 60 degrees of BP's layer gradient (a descent direction for that layer, with room); a negated gradient has cosine -1"),
        Criterion(f"{label} min over layers of |grad_l| / |BP grad_l| at T = 2L", float(np.min(ratios)), ">=", GRADIENT_RATIO_FLOOR,
                  "close to BP in every layer by size: at least a third of BP's gradient norm, the lowest layer included"),
        Criterion(f"{label} max over layers of |grad_l| / |BP grad_l| at T = 2L", float(np.max(ratios)), "<=", GRADIENT_RATIO_CEILING,
                  "and at most three times BP's gradient norm (the same factor from above)"),
    ]


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
