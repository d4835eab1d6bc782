"""C8 - past the budget in nonlinear nets: at a saddle point of L_rho the weight gradient is BP's for
any differentiable net, and whether the discrete schedule approaches that saddle is predicted by the
spectral radius of its Jacobian there; the engine's long-run behaviour must agree (DESIGN C8).

Nets: plain bias-free MLPs (numerics' saddle solver and schedule cover them), tanh and relu,
depths DEPTHS, hidden width WIDTH, weights N(0, gain^2 / n_in) (gain 1 for tanh, sqrt 2 for relu),
a fixed digits batch of BATCH, float64; eta = 1/lambda_max at the feedforward start, alpha = rho = 1,
k = 1, pre-dual gradient (the canonical schedule, PC-ALM's: --algo pc does not change C8).

(a) The saddle point of L_rho, by ``scipy.optimize.root`` (``numerics.nonlinear_saddle``, one
sample at a time: the samples do not interact), has BP's weight gradient (``numerics.bp_gradients``)
to float64 precision. Negative control: the same saddle read with the dual's sign flipped
(e_l = -lam_l + rho eps_l in the weight rule) gives minus BP's gradient in every layer below the
read-out (whose error eps_L has no multiplier), and (a) fails on it.

(b) The spectral radius r of one outer iteration's Jacobian at the saddle (k activity steps and
the dual step; ``numerics.schedule_jacobian``, central differences in float64) predicts the
engine: r < 1, it approaches the saddle; r > 1, it leaves it. The engine (``pcalm.infer`` with an
observer) runs the canonical schedule for T = LONG_RUN x L (the figures), longer where needed
for r^(T/2) to be a factor DECISIVE from 1 (at most JUDGE_CAP x L); it approaches if the
least-squares rate of log(distance to the saddle) over the run's second half is below 1. A
prediction counts where it is decisive and the linearisation applies: always for tanh (a smooth
map); for relu, whose schedule map is piecewise linear, only while the engine's activation pattern
is the saddle's (else the Jacobian there says nothing about the run, and the net is "undecided").
The verdict is about agreement, on at least MIN_DECIDED nets, not about which way each net goes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch

import numerics
import pcalm
from numerics.equilibrium import state_at
from paper_checks.measures import relative_error, worst
from paper_checks.verdict import CheckContext, Criterion, Verdict
from pcalm.data import load_dataset
from pcalm.engine.energy import weight_gradients
from pcalm.engine.metrics import gradient_cosine
from pcalm.experiments.plotting import Line, plot_lines

ACTIVATIONS = ("tanh", "relu")
DEPTHS = {"quick": (8, 32), "full": (8, 32, 64)}
GAINS = {"tanh": 1.0, "relu": math.sqrt(2.0)}
WIDTH, BATCH = 10, 4
LONG_RUN = 64  # the engine runs the canonical schedule to T = LONG_RUN * L
DECISIVE = 2.0  # r^(T/2) must differ from 1 by this factor for a prediction to count
JUDGE_CAP = 256  # the judged run lasts at most JUDGE_CAP * L steps
MIN_DECIDED = 2  # nets (of four) whose prediction must be decisive
COSINE_POINTS = 60  # log-spaced budgets at which the weight gradient is formed
SADDLE_TOLERANCE = 1e-10
ROOT_TOLERANCE = 1e-12  # relative step tolerance of MINPACK hybrd (1e-14 stalls on tanh L=8)
ALPHA = RHO = 1.0


def net_weights(activation: str, depth: int, n_in: int, n_out: int, seed: int) -> list[np.ndarray]:
    """Seeded N(0, gain^2 / n_in) weights of a plain MLP n_in -> WIDTH x (L-1) -> n_out."""
    rng = np.random.default_rng([seed, depth, ACTIVATIONS.index(activation)])
    widths = [n_in] + [WIDTH] * (depth - 1) + [n_out]
    return [rng.standard_normal((widths[l + 1], widths[l])) * GAINS[activation] / math.sqrt(widths[l]) for l in range(depth)]


def saddle_of(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, activation: str) -> numerics.InferenceState:
    """The saddle point of L_rho for the batch, solved per sample by root finding and joined."""
    parts = [numerics.nonlinear_saddle(weights, x[b : b + 1], y[b : b + 1], activation, rho=RHO, tol=ROOT_TOLERANCE) for b in range(x.shape[0])]
    z = [np.concatenate([p.z[l] for p in parts]) for l in range(len(weights) - 1)]
    lam = [np.concatenate([p.lam[l] for p in parts]) for l in range(len(weights) - 1)]
    return state_at(weights, x, y, z, lam, RHO, activation)


def flipped_dual_gradient(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, saddle: numerics.InferenceState, activation: str) -> list[np.ndarray]:
    """Negative control: the weight rule with the dual's sign flipped, e_l = -lam_l + rho eps_l, at the saddle."""
    return numerics.weight_grads(weights, x, saddle.z, [-m for m in saddle.lam], y, RHO, activation)


def judged_steps(radius: float, depth: int) -> int:
    """Length of the judged run: at least LONG_RUN x L, and long enough that r^(T/2) is a factor
    DECISIVE from 1 (the linearisation's prediction is then visible), at most JUDGE_CAP x L."""
    rate = abs(math.log(radius)) if radius > 0 else math.inf
    needed = 2 * math.ceil(math.log(DECISIVE) / rate) if rate > 0 else math.inf
    return int(min(max(LONG_RUN * depth, needed), JUDGE_CAP * depth))


def predicted_behaviour(radius: float, steps: int) -> str:
    """"approaches" (r < 1) or "leaves" (r > 1) where r^(steps/2) differs from 1 by DECISIVE, else "undecided"."""
    change = (steps / 2) * math.log(radius) if radius > 0 else -math.inf
    if change <= -math.log(DECISIVE):
        return "approaches"
    if change >= math.log(DECISIVE):
        return "leaves"
    return "undecided"


def observed_rate(distances: np.ndarray) -> float:
    """The engine's factor per activity step over the run's second half: exp of the least-squares
    slope of log(distance to the saddle) against t (robust to the oscillation of complex modes)."""
    end = len(distances) - 1
    t = np.arange(end // 2, end + 1)
    return float(np.exp(np.polyfit(t, np.log(distances[t]), 1)[0]))


def observed_behaviour(distances: np.ndarray) -> str:
    """"approaches" if the distance to the saddle shrinks over the second half (rate < 1), else "leaves"."""
    return "approaches" if observed_rate(distances) < 1.0 else "leaves"


def linearisation_applies(activation: str, pattern_match: Sequence[float]) -> bool:
    """Whether the Jacobian at the saddle governs the run's second half: always for a smooth
    activation (tanh); for relu, whose schedule map is piecewise linear, only while the engine
    stays in the saddle's activation region (every hidden unit's sign the saddle's, at T/2 and T)."""
    return activation != "relu" or min(pattern_match) == 1.0


def prediction(radius: float, steps: int, applies: bool) -> str:
    """The radius's prediction where it is decisive and the linearisation applies, else "undecided"."""
    return predicted_behaviour(radius, steps) if applies else "undecided"


def disagreements(predicted: dict[str, str], observed: dict[str, str]) -> int:
    """Nets with a decided prediction whose observed behaviour differs from it."""
    return sum(predicted[name] not in ("undecided", observed[name]) for name in predicted)


def decided(predicted: dict[str, str]) -> int:
    """Nets whose prediction is decided (decisive, and the linearisation applies)."""
    return sum(p != "undecided" for p in predicted.values())


def engine_trace(model: pcalm.MLP, x: np.ndarray, y: np.ndarray, eta: float, saddle: numerics.InferenceState, bp: list[np.ndarray], steps: int) -> dict[str, np.ndarray]:
    """The engine's canonical schedule to ``steps``: after every activity step t (the state of budget
    t) the relative distance of (z, lam) to the saddle, ||lam||, ||z - feedforward|| and ||eps||
    (hidden); the weight gradient's cosine to BP's at COSINE_POINTS log-spaced budgets; the fraction
    of hidden units whose sign (relu's activation pattern) is the saddle's, at T/2 and T."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    target = torch.from_numpy(np.concatenate([a.ravel() for a in saddle.z + saddle.lam]))
    feedforward = torch.cat([a.reshape(-1) for a in model.feedforward(xt)[:-1]]).detach()
    cosine_steps = set(np.unique(np.geomspace(1, steps, COSINE_POINTS).round().astype(int)).tolist())
    saddle_pattern = torch.cat([torch.from_numpy(a).reshape(-1) > 0 for a in saddle.z])
    rows: dict[str, list[float]] = {"distance": [], "lam_norm": [], "z_from_feedforward": [], "eps_norm": [], "cosine_steps": [], "cosine_to_bp": [], "pattern_match": []}

    def observe(step, z, lam, e):
        zs, lams = torch.cat([a.reshape(-1) for a in z]), torch.cat([a.reshape(-1) for a in lam])
        rows["distance"].append(float(torch.linalg.norm(torch.cat([zs, lams]) - target) / torch.linalg.norm(target)))
        rows["lam_norm"].append(float(lams.norm()))
        rows["z_from_feedforward"].append(float((zs - feedforward).norm()))
        rows["eps_norm"].append(float(torch.cat([(a - m).reshape(-1) for a, m in zip(e[:-1], lam)]).norm() / RHO))
        if step in (steps // 2, steps):
            rows["pattern_match"].append(float((saddle_pattern == (zs > 0)).double().mean()))
        if step in cosine_steps:
            rows["cosine_steps"].append(step)
            rows["cosine_to_bp"].append(gradient_cosine(weight_gradients(model, xt, z, e)[0], bp))

    pcalm.infer(model, xt, yt, pcalm.PCALM(eta=eta, alpha=ALPHA, rho=RHO, steps=steps), observer=observe)
    return {k: np.array(v) for k, v in rows.items()}


def measure_net(activation: str, depth: int, x: np.ndarray, y: np.ndarray, seed: int) -> dict:
    """Saddle, its gradient's distance to BP's (and the flipped-dual control's), the radius there
    and the engine's long run on one net."""
    weights = net_weights(activation, depth, x.shape[1], y.shape[1], seed)
    saddle = saddle_of(weights, x, y, activation)
    bp = numerics.bp_gradients(weights, x, y, activation)
    model = pcalm.MLP.from_weights([torch.from_numpy(w) for w in weights], activation=activation)
    eta = 1.0 / pcalm.activity_lambda_max(model, torch.from_numpy(x), torch.from_numpy(y), rho=RHO)
    radius = numerics.spectral_radius_at(weights, x, y, saddle.z, saddle.lam, eta, ALPHA, RHO, 1, activation)
    steps = judged_steps(radius, depth)
    if activation == "relu":  # piecewise linear: extend the run only where it stays in the saddle's activation region
        trace = engine_trace(model, x, y, eta, saddle, bp.weight_grads, LONG_RUN * depth)
        if steps > LONG_RUN * depth and linearisation_applies(activation, trace["pattern_match"]):
            trace = engine_trace(model, x, y, eta, saddle, bp.weight_grads, steps)
        else:
            steps = LONG_RUN * depth
    else:
        trace = engine_trace(model, x, y, eta, saddle, bp.weight_grads, steps)
    return {
        "activation": activation, "depth": depth, "eta": eta, "radius": radius, "steps": steps, "trace": trace,
        "saddle_vs_bp": relative_error(saddle.weight_grads, bp.weight_grads),
        "flipped_dual_vs_bp": relative_error(flipped_dual_gradient(weights, x, y, saddle, activation), bp.weight_grads),
        "saddle_max_eps": float(max(np.abs(e).max() for e in numerics.errors(weights, x, saddle.z, y, activation)[:-1])),
        "lam_vs_bp_signals": relative_error(saddle.lam, bp.backward_signals),
    }


def judge(saddle_errors: dict[str, float], predicted: dict[str, str], observed: dict[str, str]) -> list[Criterion]:
    """C8's criteria: (a) the saddle's weight gradient is BP's; (b) the engine does what the radius
    predicts, on enough nets for the agreement to mean something."""
    return [
        Criterion("(a) max relative distance of the saddle's weight gradient to BP's", worst(saddle_errors.values()), "<=", SADDLE_TOLERANCE,
                  "float64 root finding (step tolerance 1e-12) on these nets agrees with BP to ~1e-14; a flipped dual sign gives relative distance ~2"),
        Criterion("(b) nets whose long run disagrees with the radius's decisive prediction", float(disagreements(predicted, observed)), "<=", 0.0,
                  "r < 1: the distance to the saddle shrinks over the second half of the run (fitted rate < 1); r > 1: it does not"),
        Criterion(f"(b) nets with a decided prediction (r^(T/2) a factor {DECISIVE} from 1 within the judged run, linearisation applies)", float(decided(predicted)), ">=", float(MIN_DECIDED),
                  f"an agreement judged on fewer nets says little; the judged run lasts up to {JUDGE_CAP} L steps to make r^(T/2) visible"),
    ]


def check(ctx: CheckContext) -> Verdict:
    """Saddles, radii and long runs of tanh and relu nets; judge C8 (about PC-ALM's saddle and
    schedule: --algo pc does not change it)."""
    start = time.perf_counter()
    x, y = (t.double().numpy() for t in load_dataset("digits").training_batch(BATCH, ctx.seed))
    nets = {f"{act} L={depth}": measure_net(act, depth, x, y, ctx.seed) for act in ACTIVATIONS for depth in DEPTHS[ctx.tier]}
    predicted = {name: prediction(n["radius"], n["steps"], linearisation_applies(n["activation"], n["trace"]["pattern_match"])) for name, n in nets.items()}
    observed = {name: observed_behaviour(n["trace"]["distance"]) for name, n in nets.items()}
    criteria = judge({name: n["saddle_vs_bp"] for name, n in nets.items()}, predicted, observed)
    control = judge({name: n["flipped_dual_vs_bp"] for name, n in nets.items()}, predicted, observed)[0]
    evidence = {
        "summary": {name: _summary(n, predicted[name], observed[name]) for name, n in nets.items()},
        "width": WIDTH, "batch": BATCH, "figure_run": f"T = {LONG_RUN} L", "judged_run": f"{LONG_RUN} L to {JUDGE_CAP} L", "alpha": ALPHA, "rho": RHO, "gains": GAINS,
        "nets": {name: _net_evidence(n, predicted[name], observed[name]) for name, n in nets.items()},
        "negative_control": {"name": "flipped dual sign in the weight rule (e = -lam + rho eps)", "criterion": control.to_dict()},
    }
    if ctx.method == "pc":
        evidence["note"] = "C8 is about PC-ALM's saddle and schedule; --algo pc does not change it"
    return Verdict("C8", "Past the budget: the saddle's gradient is BP's; the schedule's radius predicts the long run", criteria, evidence, _plot(ctx, nets), time.perf_counter() - start)


def _summary(n: dict, predicted: str, observed: str) -> str:
    """One line per net: radius, prediction (and why undecided), observed rate, saddle vs BP."""
    says = predicted_behaviour(n["radius"], n["steps"])
    why = ""
    if not linearisation_applies(n["activation"], n["trace"]["pattern_match"]):
        why = f" (only {min(n['trace']['pattern_match']):.0%} of the hidden units keep the saddle's sign: outside its activation region, the run is not extended)"
    elif says == "undecided":
        why = f" (r^(T/2) = {n['radius'] ** (n['steps'] / 2):.2f}: too close to 1)"
    rate = observed_rate(n["trace"]["distance"])
    return f"r = {n['radius']:.6f}, predicted {predicted}{why}, observed {observed} (rate {rate:.6f} per step over T = {n['steps'] // 2}..{n['steps']}); saddle vs BP {n['saddle_vs_bp']:.1e}"


def _net_evidence(n: dict, predicted: str, observed: str) -> dict:
    trace, steps = n["trace"], n["steps"]
    depth = n["depth"]
    marks = sorted({depth, 2 * depth, LONG_RUN * depth, steps // 2, steps})
    cosines = dict(zip(trace["cosine_steps"].tolist(), trace["cosine_to_bp"].tolist()))
    best = int(np.argmax(trace["cosine_to_bp"]))
    return {
        "eta": n["eta"], "judged_steps": steps, "spectral_radius": n["radius"], "radius_power_half_run": float(n["radius"] ** (steps / 2)),
        "radius_says": predicted_behaviour(n["radius"], steps), "sign_pattern_match_at_half_and_end": n["trace"]["pattern_match"].tolist(),
        "predicted": predicted, "observed": observed, "observed_rate_per_step": observed_rate(trace["distance"]),
        "saddle_vs_bp": n["saddle_vs_bp"], "lam_vs_bp_signals": n["lam_vs_bp_signals"], "saddle_max_eps": n["saddle_max_eps"], "flipped_dual_vs_bp": n["flipped_dual_vs_bp"],
        "distance_at": {str(t): float(trace["distance"][t]) for t in marks}, "min_distance": float(trace["distance"].min()),
        "lam_norm_end": float(trace["lam_norm"][-1]), "eps_norm_end": float(trace["eps_norm"][-1]), "z_from_feedforward_end": float(trace["z_from_feedforward"][-1]),
        "cosine_to_bp_at": {str(t): cosines[t] for t in (2 * depth, steps) if t in cosines}, "best_cosine_to_bp": float(trace["cosine_to_bp"][best]), "best_cosine_step": int(trace["cosine_steps"][best]),
    }


TRACES = {
    "distance": "relative distance of (z, lam) to the saddle",
    "cosine_to_bp": "cosine of the weight gradient to BP's",
    "lam_norm": "||lam|| (all hidden layers)",
    "z_from_feedforward": "||z - feedforward pass||",
    "eps_norm": "||eps|| (hidden constraint violations)",
}


def _plot(ctx: CheckContext, nets: dict[str, dict]) -> list[str]:
    """One figure per traced quantity against the budget T (log-scaled), a line per net."""
    paths = []
    for key, title in TRACES.items():
        lines = []
        for name, n in nets.items():
            trace = n["trace"]
            if key == "cosine_to_bp":
                lines.append(Line(trace["cosine_steps"].tolist(), trace[key].tolist(), label=name, style="-"))
                continue
            budgets = np.arange(len(trace[key]))
            shown = (budgets >= 1) & (trace[key] > 0)  # log axes: lam is 0 at T = 1 (no dual step yet)
            label = f"{name} (r = {n['radius']:.5f})" if key == "distance" else name
            lines.append(Line(budgets[shown].tolist(), trace[key][shown].tolist(), label=label, style="-"))
        figure = plot_lines(lines, ctx.figure(f"c8_{key}.png"), title=f"C8: {title}", xlabel="budget T (activity steps)", ylabel=key, logx=True, logy=key != "cosine_to_bp")
        paths.append(str(figure))
    return paths
