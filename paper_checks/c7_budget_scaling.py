"""C7 - budget scaling: the inference budget T*(L) at which a method's weight gradient reaches a
cosine of 0.9 to its own equilibrium gradient grows about linearly in depth for PC-ALM and about
quadratically for PC (DESIGN C7, a consequence of C5's wave and diffusion for learning).

Setup: the paper's residual MLP (relu, width WIDTH, N(0, 1) weights, float64), a fixed digits
batch, eta = 1/lambda_max, alpha = rho = 1, the canonical schedule (k = 1, pre-dual gradient).
Targets: PC-ALM's equilibrium gradient is BP's (C1); PC's is the gradient at PC's own
equilibrium (C3), found by running PC for max(EQUILIBRIUM_STEPS_PER_LAYER2 x L^2,
EQUILIBRIUM_MIN_STEPS) steps on the fast path (PC's slowest mode decays in ~L^2 steps). The
evidence records how far that run still moved over its second half (1 - cos of the gradients at
half and all the steps, up to ~1e-3); its own distance to the limit is smaller: at L = 32 and 64
(batch 16) 1 - cos to a 64 L^2-step run measured 6e-5 and 2e-5.

T*(L): the smallest budget T, among those tried, with cosine >= threshold, found by doubling
T = 1, 2, 4, ... then bisecting the last bracket (T/2, T] down to BISECTION_RTOL of its lower
end. The cosine is not monotone in T for PC-ALM in relu nets (it overshoots, then oscillates),
so T* is the first crossing along that search. A method that has not reached the threshold by
the cap CAP_PER_LAYER x L is censored. Measured at thresholds 0.9 and 0.95, on the whole
gradient and on the lowest quarter of the layers alone (the layers credit must travel furthest to).

The exponent is the least-squares slope of log T* against log L with its standard error.
Censoring is one-sided: a censored T* is only known to exceed the cap. For an upper bound on an
exponent (PC-ALM: at most 1.3) a censored depth leaves the exponent unbounded (+inf). For a lower
bound (PC: at least 1.7) censored depths enter at the cap, which can only lower the fitted slope
where they lie above the mean log depth (OLS weights are positive there); otherwise the bound is
unknown (NaN).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.stats import linregress
from tqdm.auto import tqdm

import pcalm
from paper_checks.methods import method_under_test
from paper_checks.verdict import CheckContext, Criterion, Verdict
from pcalm.data import load_dataset
from pcalm.engine.metrics import gradient_cosine
from pcalm.experiments.plotting import Line, plot_lines

DEPTHS = {"quick": (4, 8, 16, 32, 64), "full": (4, 8, 16, 32, 64, 128)}
WIDTH, BATCH = 32, 16
THRESHOLDS = (0.9, 0.95)
JUDGED = ("whole", 0.9)  # the T* the claim is judged on: the whole gradient at cosine 0.9
CAP_PER_LAYER = 64
BISECTION_RTOL = 1 / 16
EQUILIBRIUM_STEPS_PER_LAYER2 = 16
EQUILIBRIUM_MIN_STEPS = 4096
PCALM_MAX_EXPONENT = 1.3
PC_MIN_EXPONENT = 1.7
PARTS = ("whole", "lowest_quarter")


def threshold_budget(cosine: Callable[[int], float], threshold: float, cap: int, rtol: float = BISECTION_RTOL) -> int | None:
    """T*: the first budget with ``cosine(T) >= threshold`` found by doubling T from 1 (the cap
    is tried last, if no power of two below it reaches), then bisecting (T/2, T] until its width
    is at most ``rtol`` of its lower end; None (censored) if even the cap does not reach."""
    low, high = 0, 1
    while cosine(high) < threshold:
        if high >= cap:
            return None
        low, high = high, min(2 * high, cap)
    while high - low > max(1, rtol * low):
        middle = (low + high) // 2
        low, high = (low, middle) if cosine(middle) >= threshold else (middle, high)
    return high


@dataclass
class Exponent:
    """Fitted slope of log T* vs log L: ``value`` (inf / NaN where censoring leaves it unbounded
    / unknown, see the module docstring), its standard error, and the depths that were censored."""

    value: float
    stderr: float
    slope_as_fitted: float
    censored_depths: list[int]
    bound: str

    def to_dict(self) -> dict:
        return asdict(self)


def fit_exponent(depths: Sequence[int], budgets: Sequence[int | None], cap_per_layer: int, bound: str) -> Exponent:
    """Least-squares slope of log T* on log L (``scipy.stats.linregress``) and its standard error.

    ``bound`` is "upper" (the exponent is judged from above: any censored depth makes it +inf) or
    "lower" (censored depths enter at the cap, valid only where they all lie above the mean log
    depth; NaN otherwise)."""
    if bound not in ("upper", "lower"):
        raise ValueError(f"bound: expected 'upper' or 'lower', got {bound!r}")
    censored = [d for d, t in zip(depths, budgets) if t is None]
    log_depths = np.log(np.asarray(depths, dtype=float))
    log_budgets = np.log(np.asarray([cap_per_layer * d if t is None else t for d, t in zip(depths, budgets)], dtype=float))
    fit = linregress(log_depths, log_budgets)
    value = float(fit.slope)
    if censored and bound == "upper":
        value = math.inf
    elif censored and min(np.log(censored)) <= log_depths.mean():
        value = math.nan
    return Exponent(value, float(fit.stderr), float(fit.slope), censored, bound)


class BudgetCurve:
    """Cosine of a method's weight gradient at budget T to a target gradient, on the whole net and
    on its lowest quarter of layers (at least one); each budget runs once (memoised)."""

    def __init__(self, model: pcalm.ResidualMLP, x: torch.Tensor, y: torch.Tensor, make_algo: Callable[[int], object], target: list[torch.Tensor]) -> None:
        self.model, self.x, self.y, self.make_algo, self.target = model, x, y, make_algo, target
        self.quarter = max(1, model.depth // 4)
        self.cosines: dict[int, dict[str, float]] = {}

    def at(self, budget: int) -> dict[str, float]:
        """{"whole": cos, "lowest_quarter": cos} at budget T."""
        if budget not in self.cosines:
            grads = pcalm.infer(self.model, self.x, self.y, self.make_algo(budget)).weight_grads
            q = self.quarter
            self.cosines[budget] = {"whole": gradient_cosine(grads, self.target), "lowest_quarter": gradient_cosine(grads[:q], self.target[:q])}
        return self.cosines[budget]

    def budgets(self, cap: int) -> dict[str, int | None]:
        """T* for every part and threshold, keyed "whole@0.9" etc."""
        return {f"{part}@{t}": threshold_budget(lambda budget: self.at(budget)[part], t, cap) for part in PARTS for t in THRESHOLDS}


def equilibrium_steps(depth: int) -> int:
    """PC's steps to its equilibrium: max(EQUILIBRIUM_STEPS_PER_LAYER2 L^2, EQUILIBRIUM_MIN_STEPS)."""
    return max(EQUILIBRIUM_STEPS_PER_LAYER2 * depth**2, EQUILIBRIUM_MIN_STEPS)


def pc_equilibrium_gradient(model: pcalm.ResidualMLP, x: torch.Tensor, y: torch.Tensor, eta: float) -> tuple[list[torch.Tensor], float]:
    """PC's equilibrium weight gradient (C3): PC run for ``equilibrium_steps(L)`` steps; also 1 - cos between that gradient and the one at half the steps (how far it still moved)."""
    steps = equilibrium_steps(model.depth)
    final = pcalm.infer(model, x, y, pcalm.PC(eta=eta, steps=steps)).weight_grads
    half = pcalm.infer(model, x, y, pcalm.PC(eta=eta, steps=steps // 2)).weight_grads
    return final, 1.0 - gradient_cosine(half, final)


def measure_depth(depth: int, ctx: CheckContext, x: torch.Tensor, y: torch.Tensor) -> dict:
    """T* tables of the method under test and of PC at one depth, each against its own target."""
    model = pcalm.ResidualMLP(x.shape[1], WIDTH, depth, y.shape[1], "relu", seed=ctx.seed, dtype=torch.float64)
    eta = 1.0 / pcalm.activity_lambda_max(model, x, y)
    pc_target, pc_drift = pc_equilibrium_gradient(model, x, y, eta)
    bp_target = pcalm.infer(model, x, y, pcalm.BP(fast=False)).weight_grads  # autograd: the independent reference
    cap = CAP_PER_LAYER * depth
    pc = BudgetCurve(model, x, y, lambda t: pcalm.PC(eta=eta, steps=t), pc_target)
    tested = pc if ctx.method == "pc" else BudgetCurve(model, x, y, lambda t: method_under_test(ctx, eta, steps=t), bp_target)
    return {
        "eta": eta, "cap": cap, "pc_equilibrium_steps": equilibrium_steps(depth),
        "pc_equilibrium_drift": pc_drift, "pc_equilibrium_cosine_to_bp": gradient_cosine(pc_target, bp_target),
        "tested": tested.budgets(cap), "pc": pc.budgets(cap),
        "tested_runs": len(tested.cosines), "pc_runs": len(pc.cosines),
    }


def judge_exponents(label: str, tested: Exponent, pc: Exponent) -> list[Criterion]:
    """C7's criteria: the method under test's exponent at most PCALM_MAX_EXPONENT, PC's at least PC_MIN_EXPONENT."""
    return [
        Criterion(f"{label} exponent of T*(L) (cosine {JUDGED[1]} to its own equilibrium gradient)", tested.value, "<=", PCALM_MAX_EXPONENT,
                  "about linear in depth (a wave, C5); 1.3 leaves room for the follow-up's 1.25-1.27 and excludes diffusion's 2; a censored depth makes it +inf"),
        Criterion(f"PC exponent of T*(L) (cosine {JUDGED[1]} to grad F* at PC's equilibrium)", pc.value, ">=", PC_MIN_EXPONENT,
                  "about quadratic in depth (diffusion, C5); 1.7 is well above a wave's 1; censored depths enter at the cap, a lower bound"),
    ]


def check(ctx: CheckContext) -> Verdict:
    """T*(L) for the method under test and PC over the tier's depths, fitted exponents; judge C7."""
    start = time.perf_counter()
    depths = DEPTHS[ctx.tier]
    x, y = (t.double() for t in load_dataset("digits").training_batch(BATCH, ctx.seed))
    per_depth = {}
    for depth in tqdm(depths, desc="C7 depths", unit="depth", leave=False):
        per_depth[depth] = measure_depth(depth, ctx, x, y)
    key = f"{JUDGED[0]}@{JUDGED[1]}"
    exponents = {
        name: {k: fit_exponent(depths, [per_depth[d][name][k] for d in depths], CAP_PER_LAYER, bound).to_dict() for k in per_depth[depths[0]][name]}
        for name, bound in (("tested", "upper"), ("pc", "lower"))
    }
    judged = {name: Exponent(**exponents[name][key]) for name in exponents}
    label = method_under_test(ctx, 1.0).name
    criteria = judge_exponents(label, judged["tested"], judged["pc"])
    figure = _plot(ctx, depths, per_depth, judged, label, key)
    evidence = {
        "judged": key, "exponents": {name: {k: _summary(Exponent(**e)) for k, e in fits.items()} for name, fits in exponents.items()},
        "t_star": {name: {k: {str(d): per_depth[d][name][k] for d in depths} for k in per_depth[depths[0]][name]} for name in ("tested", "pc")},
        "follow_up_exponents": {"pc-alm": [1.25, 1.27], "pc": [1.92, 2.07], "measured_on": "budget to reach 90-95% of BP's accuracy"},
        "width": WIDTH, "batch": BATCH, "activation": "relu", "dtype": "float64", "thresholds": list(THRESHOLDS),
        "cap": f"{CAP_PER_LAYER} L", "bisection_rtol": BISECTION_RTOL, "pc_equilibrium_steps": f"max({EQUILIBRIUM_STEPS_PER_LAYER2} L^2, {EQUILIBRIUM_MIN_STEPS})",
        "per_depth": {str(d): {k: v for k, v in per_depth[d].items() if k not in ("tested", "pc")} for d in depths},
        "fits": exponents,
    }
    return Verdict("C7", "Budget scaling: T*(L) about linear in depth for PC-ALM, quadratic for PC", criteria, evidence, [str(figure)], time.perf_counter() - start)


def _summary(fit: Exponent) -> str:
    """"1.12 +- 0.02", with the censored depths where there are any."""
    text = f"{fit.value:.2f} +- {fit.stderr:.2f}"
    return text + f" (censored at L = {fit.censored_depths}, fitted {fit.slope_as_fitted:.2f})" if fit.censored_depths else text


def _plot(ctx: CheckContext, depths: Sequence[int], per_depth: dict, judged: dict[str, Exponent], label: str, key: str):
    """T* against L (log-log) for the method under test and PC (once, where PC is the method under
    test), their fitted power laws, and reference slopes 1 and 2 through the tested method's first point."""
    lines = []
    series = (("pc", "pc", "C1"),) if ctx.method == "pc" else (("tested", label, "C0"), ("pc", "pc", "C1"))
    for name, title, colour in series:
        shown = [(d, per_depth[d][name][key]) for d in depths if per_depth[d][name][key] is not None]
        censored = [d for d in depths if per_depth[d][name][key] is None]
        fit = judged[name]
        lines.append(Line([d for d, _ in shown], [t for _, t in shown], label=f"{title}: T* (exponent {fit.slope_as_fitted:.2f} +- {fit.stderr:.2f})", style=f"{colour}o"))
        if censored:
            lines.append(Line(censored, [CAP_PER_LAYER * d for d in censored], label=f"{title}: censored (> {CAP_PER_LAYER} L)", style=f"{colour}v"))
        anchor = np.exp(np.mean([np.log(per_depth[d][name][key] or CAP_PER_LAYER * d) for d in depths]) - fit.slope_as_fitted * np.mean(np.log(depths)))
        lines.append(Line(list(depths), [float(anchor * d**fit.slope_as_fitted) for d in depths], label=f"{title}: fit", style=f"{colour}-"))
    reference = per_depth[depths[0]][series[0][0]][key] or CAP_PER_LAYER * depths[0]
    for power, style in ((1, "k:"), (2, "k--")):
        lines.append(Line(list(depths), [reference * (d / depths[0]) ** power for d in depths], label=f"slope {power}", style=style))
    return plot_lines(lines, ctx.figure("c7_budget_scaling.png"), title=f"C7: budget T* to cosine {JUDGED[1]} (relu, width {WIDTH})", xlabel="depth L", ylabel="T* (activity steps)", logx=True, logy=True)
