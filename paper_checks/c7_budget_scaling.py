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

The exponent is the least-squares slope of log T* against log L, pooled over REPLICATES
independent (net, batch) replicates per depth (replicate i: weights and digits batch seeded
1000 seed + i), so that each point is an independent net and batch; judged is its one-sided
CONFIDENCE (95%) t-bound, slope +- t_{0.95, n-2} x stderr, never the point estimate. Three
states: PC-ALM's exponent holds where its upper bound is at most 1.3, fails where its lower bound
is above 1.3, and is undecided where the interval straddles 1.3; PC's likewise from the other
side of 1.5, the midpoint between the two hypotheses (a wave's exponent 1, diffusion's 2): a
lower bound above it says that PC's budget grows closer to quadratically than linearly. (Judged
on a point estimate, the threshold was 1.7; with the interval, the question a bound can answer
is which of the two hypotheses is nearer, and 1.7 sat inside the estimate's seed-to-seed spread:
quick tier [1.56, 1.93] at seed 0, full tier's one-seed point 1.67.) 95% one-sided: each exponent is one test, judged once per run, at the usual level.

Reported beside it, not judged: T*(L) at cosine 0.99 (whole gradient, replicate 0) with its
exponent. The credit front travels ballistically (C5), but exact BP is reached only as the
schedule's slowest mode dies out, about L^2 steps (1 - rho(M) falls like L^-2 in linear residual
nets); the paper's T = 2L buys a cosine of about 0.9. A 0.99 exponent far from 1 is that finding,
not a failure of the check.
Censoring is one-sided: a censored T* is only known to exceed the cap. For an upper bound on an
exponent (PC-ALM: at most 1.3) a censored depth leaves the exponent unbounded (+inf). For a lower
bound (PC: at least 1.5) censored depths enter at the cap, which can only lower the fitted slope
where they lie above the mean log depth (OLS weights are positive there); otherwise the bound is
unknown (NaN). The confidence bounds take the same side: +inf / NaN where the fitted value is.

What makes C7 fail: a diffusive method in PC-ALM's place (``--algo pc``: its exponent's lower
bound is above 1.3), or a PC whose exponent's upper bound is below 1.5.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.stats import linregress
from scipy.stats import t as student_t
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
REPORTED = ("whole", 0.99)  # T* reported beside the judged one (replicate 0), not judged
REPLICATES = {"quick": 2, "full": 3}
CONFIDENCE = 0.95
JUDGED = ("whole", 0.9)  # the T* the claim is judged on: the whole gradient at cosine 0.9
CAP_PER_LAYER = 64
BISECTION_RTOL = 1 / 16
EQUILIBRIUM_STEPS_PER_LAYER2 = 16
EQUILIBRIUM_MIN_STEPS = 4096
PCALM_MAX_EXPONENT = 1.3
PC_MIN_EXPONENT = 1.5  # the midpoint of a wave's 1 and diffusion's 2 (see the criterion's reason)
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
    / unknown, see the module docstring), its standard error, the one-sided CONFIDENCE bounds
    ``low`` and ``high`` (slope -+ t stderr, each +inf / NaN where ``value`` is), and the depths
    that were censored."""

    value: float
    stderr: float
    slope_as_fitted: float
    censored_depths: list[int]
    bound: str
    low: float = math.nan
    high: float = math.nan

    def to_dict(self) -> dict:
        return asdict(self)


def fit_exponent(depths: Sequence[int], budgets: Sequence[int | None], cap_per_layer: int, bound: str) -> Exponent:
    """Least-squares slope of log T* on log L (``scipy.stats.linregress``; depths may repeat, one
    point per replicate), its standard error and one-sided CONFIDENCE t-bounds (n - 2 degrees of
    freedom; infinitely wide with fewer than three points).

    ``bound`` is "upper" (the exponent is judged from above: any censored depth makes it +inf) or
    "lower" (censored depths enter at the cap, valid only where they all lie above the mean log
    depth; NaN otherwise)."""
    if bound not in ("upper", "lower"):
        raise ValueError(f"bound: expected 'upper' or 'lower', got {bound!r}")
    censored = sorted({d for d, t in zip(depths, budgets) if t is None})
    log_depths = np.log(np.asarray(depths, dtype=float))
    log_budgets = np.log(np.asarray([cap_per_layer * d if t is None else t for d, t in zip(depths, budgets)], dtype=float))
    fit = linregress(log_depths, log_budgets)
    value, stderr = float(fit.slope), float(fit.stderr)
    spread = float(student_t.ppf(CONFIDENCE, len(depths) - 2)) * stderr if len(depths) > 2 else math.inf
    low, high = value - spread, value + spread
    if censored and bound == "upper":
        value = high = math.inf
    elif censored and min(np.log(censored)) <= log_depths.mean():
        value = low = high = math.nan
    return Exponent(value, stderr, float(fit.slope), censored, bound, low, high)


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

    def reported_budget(self, cap: int) -> int | None:
        """T* at the REPORTED part and cosine (not judged)."""
        part, threshold = REPORTED
        return threshold_budget(lambda budget: self.at(budget)[part], threshold, cap)


def equilibrium_steps(depth: int) -> int:
    """PC's steps to its equilibrium: max(EQUILIBRIUM_STEPS_PER_LAYER2 L^2, EQUILIBRIUM_MIN_STEPS)."""
    return max(EQUILIBRIUM_STEPS_PER_LAYER2 * depth**2, EQUILIBRIUM_MIN_STEPS)


def pc_equilibrium_gradient(model: pcalm.ResidualMLP, x: torch.Tensor, y: torch.Tensor, eta: float) -> tuple[list[torch.Tensor], float]:
    """PC's equilibrium weight gradient (C3): PC run for ``equilibrium_steps(L)`` steps; also 1 - cos between that gradient and the one at half the steps (how far it still moved)."""
    steps = equilibrium_steps(model.depth)
    final = pcalm.infer(model, x, y, pcalm.PC(eta=eta, steps=steps)).weight_grads
    half = pcalm.infer(model, x, y, pcalm.PC(eta=eta, steps=steps // 2)).weight_grads
    return final, 1.0 - gradient_cosine(half, final)


def measure_depth(depth: int, ctx: CheckContext, x: torch.Tensor, y: torch.Tensor, seed: int, report: bool = False) -> dict:
    """T* tables of the method under test and of PC at one depth (net seeded ``seed``), each
    against its own target; with ``report`` also T* at the REPORTED cosine."""
    model = pcalm.ResidualMLP(x.shape[1], WIDTH, depth, y.shape[1], "relu", seed=seed, dtype=torch.float64)
    eta = 1.0 / pcalm.activity_lambda_max(model, x, y)
    pc_target, pc_drift = pc_equilibrium_gradient(model, x, y, eta)
    bp_target = pcalm.infer(model, x, y, pcalm.BP(fast=False)).weight_grads  # autograd: the independent reference
    cap = CAP_PER_LAYER * depth
    pc = BudgetCurve(model, x, y, lambda t: pcalm.PC(eta=eta, steps=t), pc_target)
    tested = pc if ctx.method == "pc" else BudgetCurve(model, x, y, lambda t: method_under_test(ctx, eta, steps=t), bp_target)
    reported = {"tested": tested.reported_budget(cap), "pc": pc.reported_budget(cap)} if report else {}
    return {
        "eta": eta, "cap": cap, "pc_equilibrium_steps": equilibrium_steps(depth), "reported": reported,
        "pc_equilibrium_drift": pc_drift, "pc_equilibrium_cosine_to_bp": gradient_cosine(pc_target, bp_target),
        "tested": tested.budgets(cap), "pc": pc.budgets(cap),
        "tested_runs": len(tested.cosines), "pc_runs": len(pc.cosines),
    }


def _interval_state(fit: Exponent, threshold: float, side: str) -> str:
    """Why a criterion judged on a confidence bound is undecided ("" if decided): the interval
    straddles the threshold (the bound on the judged side is beyond it, the other is not)."""
    straddles = fit.high > threshold >= fit.low if side == "upper" else fit.low < threshold <= fit.high
    if straddles:
        return f"the {CONFIDENCE:.0%} interval [{fit.low:.2f}, {fit.high:.2f}] (point {fit.slope_as_fitted:.2f}) straddles {threshold}"
    return ""


def judge_exponents(label: str, tested: Exponent, pc: Exponent) -> list[Criterion]:
    """C7's criteria on the exponents' one-sided CONFIDENCE bounds: the method under test's upper
    bound at most PCALM_MAX_EXPONENT, PC's lower bound at least PC_MIN_EXPONENT; undecided where
    the interval straddles the threshold."""
    return [
        Criterion(f"{label} exponent of T*(L), upper {CONFIDENCE:.0%} bound (cosine {JUDGED[1]} to its own equilibrium gradient)", tested.high, "<=", PCALM_MAX_EXPONENT,
                  "about linear in depth (a wave, C5); 1.3 leaves room for the follow-up's 1.25-1.27 and excludes diffusion's 2; a censored depth makes it +inf; judged on the bound, not the point",
                  _interval_state(tested, PCALM_MAX_EXPONENT, "upper")),
        Criterion(f"PC exponent of T*(L), lower {CONFIDENCE:.0%} bound (cosine {JUDGED[1]} to grad F* at PC's equilibrium)", pc.low, ">=", PC_MIN_EXPONENT,
                  "about quadratic in depth (diffusion, C5): the lower bound clears 1.5, the midpoint of a wave's 1 and diffusion's 2, so PC's budget grows closer to quadratically than linearly; censored depths enter at the cap, a lower bound; judged on the bound, not the point",
                  _interval_state(pc, PC_MIN_EXPONENT, "lower")),
    ]


def check(ctx: CheckContext) -> Verdict:
    """T*(L) for the method under test and PC over the tier's depths and replicates, fitted
    exponents with confidence bounds; judge C7."""
    start = time.perf_counter()
    depths = DEPTHS[ctx.tier]
    replicates = range(REPLICATES[ctx.tier])
    per_depth: dict[tuple[int, int], dict] = {}
    for replicate in replicates:
        seed = 1000 * ctx.seed + replicate
        x, y = (t.double() for t in load_dataset("digits").training_batch(BATCH, seed))
        for depth in tqdm(depths, desc=f"C7 depths (replicate {replicate})", unit="depth", leave=False):
            per_depth[depth, replicate] = measure_depth(depth, ctx, x, y, seed, report=replicate == 0)
    points = [(d, r) for r in replicates for d in depths]
    key = f"{JUDGED[0]}@{JUDGED[1]}"
    keys = list(per_depth[points[0]]["tested"])
    exponents = {
        name: {k: fit_exponent([d for d, _ in points], [per_depth[p][name][k] for p in points], CAP_PER_LAYER, bound).to_dict() for k in keys}
        for name, bound in (("tested", "upper"), ("pc", "lower"))
    }
    judged = {name: Exponent(**exponents[name][key]) for name in exponents}
    reported_key = f"{REPORTED[0]}@{REPORTED[1]}"
    reported = {name: fit_exponent(list(depths), [per_depth[d, 0]["reported"][name] for d in depths], CAP_PER_LAYER, "lower") for name in ("tested", "pc")}
    label = method_under_test(ctx, 1.0).name
    criteria = judge_exponents(label, judged["tested"], judged["pc"])
    figures = [str(_plot(ctx, depths, points, per_depth, judged, label, key)), str(_plot_reported(ctx, depths, per_depth, reported, label))]
    evidence = {
        "judged": key, "confidence": f"one-sided {CONFIDENCE:.0%} t-bounds of the pooled fit over {REPLICATES[ctx.tier]} replicates x {len(depths)} depths",
        "exponents": {name: {k: _summary(Exponent(**e)) for k, e in fits.items()} for name, fits in exponents.items()},
        "t_star": {name: {k: {f"{d} (replicate {r})": per_depth[d, r][name][k] for d, r in points} for k in keys} for name in ("tested", "pc")},
        "reported_not_judged": {
            "what": f"T*(L) at cosine {REPORTED[1]} ({REPORTED[0]} gradient, replicate 0) beside T* at {JUDGED[1]}",
            "t_star": {name: {str(d): {key: per_depth[d, 0][name][key], reported_key: per_depth[d, 0]["reported"][name]} for d in depths} for name in ("tested", "pc")},
            "exponent": {name: _summary(fit) for name, fit in reported.items()},
            "reading": "the credit front is ballistic (C5); exact BP takes about L^2 steps (the schedule's slowest mode); T = 2L buys cosine about 0.9",
        },
        "follow_up_exponents": {"pc-alm": [1.25, 1.27], "pc": [1.92, 2.07], "measured_on": "budget to reach 90-95% of BP's accuracy"},
        "width": WIDTH, "batch": BATCH, "activation": "relu", "dtype": "float64", "thresholds": list(THRESHOLDS), "replicates": REPLICATES[ctx.tier],
        "cap": f"{CAP_PER_LAYER} L", "bisection_rtol": BISECTION_RTOL, "pc_equilibrium_steps": f"max({EQUILIBRIUM_STEPS_PER_LAYER2} L^2, {EQUILIBRIUM_MIN_STEPS})",
        "per_depth": {f"{d} (replicate {r})": {k: v for k, v in per_depth[d, r].items() if k not in ("tested", "pc")} for d, r in points},
        "fits": exponents,
    }
    return Verdict("C7", "Budget scaling: T*(L) about linear in depth for PC-ALM, quadratic for PC", criteria, evidence, figures, time.perf_counter() - start)


def _summary(fit: Exponent) -> str:
    """"1.12 +- 0.02", with the censored depths where there are any."""
    text = f"{fit.value:.2f} +- {fit.stderr:.2f} ({CONFIDENCE:.0%} bounds {fit.low:.2f}, {fit.high:.2f})"
    return text + f" (censored at L = {fit.censored_depths}, fitted {fit.slope_as_fitted:.2f})" if fit.censored_depths else text


def _plot(ctx: CheckContext, depths: Sequence[int], points: Sequence[tuple[int, int]], per_depth: dict, judged: dict[str, Exponent], label: str, key: str):
    """T* against L (log-log) for the method under test and PC (once, where PC is the method under
    test), every replicate's point, their pooled power laws, and reference slopes 1 and 2."""
    lines = []
    series = (("pc", "pc", "C1"),) if ctx.method == "pc" else (("tested", label, "C0"), ("pc", "pc", "C1"))
    for name, title, colour in series:
        shown = [(d, per_depth[d, r][name][key]) for d, r in points if per_depth[d, r][name][key] is not None]
        censored = [d for d, r in points if per_depth[d, r][name][key] is None]
        fit = judged[name]
        lines.append(Line([d for d, _ in shown], [t for _, t in shown], label=f"{title}: T* (exponent {fit.slope_as_fitted:.2f}, {CONFIDENCE:.0%} bounds {fit.low:.2f}..{fit.high:.2f})", style=f"{colour}o"))
        if censored:
            lines.append(Line(censored, [CAP_PER_LAYER * d for d in censored], label=f"{title}: censored (> {CAP_PER_LAYER} L)", style=f"{colour}v"))
        logs = [np.log(per_depth[d, r][name][key] or CAP_PER_LAYER * d) for d, r in points]
        anchor = np.exp(np.mean(logs) - fit.slope_as_fitted * np.mean(np.log([d for d, _ in points])))
        lines.append(Line(list(depths), [float(anchor * d**fit.slope_as_fitted) for d in depths], label=f"{title}: fit", style=f"{colour}-"))
    reference = per_depth[depths[0], 0][series[0][0]][key] or CAP_PER_LAYER * depths[0]
    for power, style in ((1, "k:"), (2, "k--")):
        lines.append(Line(list(depths), [reference * (d / depths[0]) ** power for d in depths], label=f"slope {power}", style=style))
    return plot_lines(lines, ctx.figure("c7_budget_scaling.png"), title=f"C7: budget T* to cosine {JUDGED[1]} (relu, width {WIDTH})", xlabel="depth L", ylabel="T* (activity steps)", logx=True, logy=True)


def _plot_reported(ctx: CheckContext, depths: Sequence[int], per_depth: dict, reported: dict[str, Exponent], label: str):
    """T* at the judged cosine 0.9 and the reported 0.99 against L (replicate 0), censored points at the cap."""
    lines = []
    judged_key, reported_key = f"{JUDGED[0]}@{JUDGED[1]}", f"{REPORTED[0]}@{REPORTED[1]}"
    series = (("pc", "pc", "C1"),) if ctx.method == "pc" else (("tested", label, "C0"), ("pc", "pc", "C1"))
    for name, title, colour in series:
        at_judged = [per_depth[d, 0][name][judged_key] for d in depths]
        at_reported = [per_depth[d, 0]["reported"][name] for d in depths]
        lines.append(Line(list(depths), [t or CAP_PER_LAYER * d for t, d in zip(at_judged, depths)], label=f"{title}: cosine {JUDGED[1]}", style=f"{colour}o-"))
        lines.append(Line(list(depths), [t or CAP_PER_LAYER * d for t, d in zip(at_reported, depths)], label=f"{title}: cosine {REPORTED[1]} (exponent {reported[name].slope_as_fitted:.2f}; at the cap: censored)", style=f"{colour}s--"))
    lines.append(Line(list(depths), [CAP_PER_LAYER * d for d in depths], label=f"cap {CAP_PER_LAYER} L", style="k:"))
    return plot_lines(lines, ctx.figure("c7_budget_099.png"), title=f"C7: T* at cosine {JUDGED[1]} (judged) and {REPORTED[1]} (reported)", xlabel="depth L", ylabel="T* (activity steps)", logx=True, logy=True)
