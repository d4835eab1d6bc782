"""C8 - past the budget in nonlinear nets: at a saddle point of L_rho the weight gradient is BP's for
any differentiable net; whether the discrete schedule approaches that saddle is predicted by the
spectral radius of its Jacobian there; where the engine's long run reaches it, its gradient is
BP's (DESIGN C8).

Nets: plain bias-free MLPs, tanh and relu, depths DEPTHS, hidden width WIDTH, weights
N(0, gain^2 / n_in) (gain 1 for tanh, sqrt 2 for relu), a fixed digits batch of BATCH, float64;
eta = 1/lambda_max at the feedforward start, k = 1, pre-dual gradient (the canonical schedule).
The method under test: PC-ALM (alpha = rho = 1), whose fixed point is the saddle of L_rho, or PC
under ``--algo pc`` (alpha = 0), whose fixed point is the equilibrium of F. Why plain MLPs and not
the paper's residual MLP: numerics/ (the float64 reference, independent of the engine) has the
nonlinear energy, saddle solver and schedule Jacobian of plain MLPs only; the residual MLP's
nonlinear form would be a second implementation of the energy in numerics/ (its linear form is
numerics.residual), which C8 does not need: its argument (C1's, with no linearity) holds for
any differentiable net.

(a) The method's fixed point, by root finding from a start away from the feedforward pass
(``numerics.solve_fixed_point``, one sample at a time: the samples do not interact). Starts, in
order until one converges: the feedforward pass plus seeded noise of START_NOISE times its scale
(lam likewise); the engine's state after the judged run; the feedforward pass itself. A net none
of them solves is undecided, with MINPACK's message. Judged: the fixed point's weight gradient is
BP's (``numerics.bp_gradients``) to float64 precision. It is for PC-ALM's saddle; PC's
equilibrium has grad F* (C3), not BP's, so C8 fails under ``--algo pc``.

(b) The spectral radius r of one outer iteration's Jacobian at the fixed point
(``numerics.spectral_radius_at``, central differences in float64) predicts the long run: r < 1,
it approaches the fixed point; r > 1, it does not stay there. A prediction is decisive where
r^(T/2) is a factor DECISIVE from 1 within the judged run. What the run did is read from its
relative distance d(t) to the fixed point, never from a fitted rate alone:

- "approaches": d(T) <= REACHED, or d(T) <= NEAR and the fitted rate shrinks d by at least a
  factor SHRINK over the second half;
- "does not reach": d never comes within NEAR (the linearisation at the fixed point says nothing
  about such a run: for r > 1 this is what it predicts, for r < 1 the net is undecided);
- "leaves": it came within NEAR and ends at least SHRINK times further than its closest;
- "stalls": near, but neither (undecided).

For relu, whose schedule map is piecewise linear, the linearisation counts only while the
engine's activation pattern is the fixed point's; else the net is undecided. (b) counts the
decided nets that disagree (none may) and asks for at least MIN_DECIDED decided nets.

(c) On the nets whose long run reached the fixed point (d(T) <= REACHED), the engine's weight
gradient is BP's (cosine to BP's at least 1 - REACHED_COSINE_GAP); undecided where no run reached.

What makes C8 fail: a fixed point whose gradient is not BP's (PC under ``--algo pc``; a dual sign
flipped in the weight rule, e_l = -lam_l + rho eps_l), a long run that contradicts its radius,
or a reached fixed point whose engine gradient is not BP's. The negative control, run in numerics/ (the engine
refuses alpha < 0) on the L = CONTROL_DEPTH nets, flips the dual's sign in the dynamics
(lam <- lam - alpha eps: dual descent, unstable at the saddle) and in the weight rule, and is
judged by the same criteria: it must fail.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

import numerics
import pcalm
from numerics.equilibrium import InferenceState, state_at
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
LONG_RUN = 64  # the engine runs the canonical schedule to at least T = LONG_RUN * L
DECISIVE = 2.0  # r^(T/2) must differ from 1 by this factor for a prediction to count
CONTRACTION = 1e-10  # where r < 1 the judged run lasts until r^T <= CONTRACTION ...
JUDGE_CAP = 256  # ... at most JUDGE_CAP * L steps, or JUDGE_CAP_STEPS where that is more:
JUDGE_CAP_STEPS = 16384  # enough for the shallow nets (r about 0.998) to reach REACHED, so (c) is decided
MIN_DECIDED = 2  # nets (of four) whose outcome must be decided
NEAR = 1e-2  # relative distance within which the linearisation at the fixed point is read
REACHED = 1e-6  # relative distance at which the run has reached the fixed point
SHRINK = 2.0  # the factor by which "approaches" / "leaves" must change the distance
REACHED_COSINE_GAP = 1e-6  # at d <= 1e-6 the gradient's cosine to the fixed point's is 1 - O(d^2)
START_NOISE = 0.1  # the root finder's first start: feedforward + START_NOISE * scale * N(0, 1)
COSINE_POINTS = 60  # log-spaced budgets at which the weight gradient is formed
SADDLE_TOLERANCE = 1e-10
ROOT_TOLERANCE = 1e-12  # relative step tolerance of MINPACK hybrd (1e-14 stalls on tanh L=8)
RESIDUAL_TOLERANCE = 1e-11  # largest absolute residual accepted where hybrd stops without "success"
EVALUATIONS_PER_UNKNOWN = 20  # MINPACK's budget per unknown (its default 200 spends minutes failing on relu kinks)
CONTROL_DEPTH = 8
ALPHA = RHO = 1.0


def net_weights(activation: str, depth: int, n_in: int, n_out: int, seed: int) -> list[np.ndarray]:
    """Seeded N(0, gain^2 / n_in) weights of a plain MLP n_in -> WIDTH x (L-1) -> n_out."""
    rng = np.random.default_rng([seed, depth, ACTIVATIONS.index(activation)])
    widths = [n_in] + [WIDTH] * (depth - 1) + [n_out]
    return [rng.standard_normal((widths[l + 1], widths[l])) * GAINS[activation] / math.sqrt(widths[l]) for l in range(depth)]


def noisy_start(weights: list[np.ndarray], x: np.ndarray, activation: str, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The first start of the root finder: the feedforward pass and lam = 0, each layer moved by
    START_NOISE times the layer's RMS feedforward activity times seeded N(0, 1) noise."""
    rng = np.random.default_rng([seed, len(weights), 7])
    z0 = numerics.feedforward(weights, x, activation)[:-1]
    scales = [START_NOISE * max(float(np.sqrt(np.mean(z * z))), 1e-3) for z in z0]
    return [z + s * rng.standard_normal(z.shape) for z, s in zip(z0, scales)], [s * rng.standard_normal(z.shape) for z, s in zip(z0, scales)]


def fixed_point_of(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, activation: str, method: str,
                   starts: Sequence[tuple[str, Callable[[], tuple[list[np.ndarray], list[np.ndarray]]]]]) -> tuple[InferenceState | None, list[str], str]:
    """The method's fixed point for the batch, per sample from the first of ``starts`` (name, a
    function giving (z, lam), called once and only when needed) that converges; the start used
    per sample, and why it failed (empty if solved)."""
    rho = RHO if method == "pc-alm" else 1.0
    made: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    parts, used = [], []
    for b in range(x.shape[0]):
        messages = []
        for name, make in starts:
            if name not in made:
                made[name] = make()
            z, lam = made[name]
            solve = numerics.solve_fixed_point(weights, x[b : b + 1], y[b : b + 1], activation, [a[b : b + 1] for a in z], [a[b : b + 1] for a in lam],
                                               rho, method, ROOT_TOLERANCE, RESIDUAL_TOLERANCE, EVALUATIONS_PER_UNKNOWN)
            if solve.state is not None:
                parts.append(solve.state)
                used.append(name)
                break
            messages.append(f"{name}: {solve.message.strip()} (max residual {solve.max_residual:.1e})")
        else:
            return None, used, f"sample {b}: no start converged ({'; '.join(messages)})"
    z = [np.concatenate([p.z[l] for p in parts]) for l in range(len(weights) - 1)]
    lam = [np.concatenate([p.lam[l] for p in parts]) for l in range(len(weights) - 1)]
    return state_at(weights, x, y, z, lam, rho, activation), used, ""


def flipped_dual_gradient(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, saddle: InferenceState, activation: str) -> list[np.ndarray]:
    """Negative control: the weight rule with the dual's sign flipped, e_l = -lam_l + rho eps_l, at the saddle."""
    return numerics.weight_grads(weights, x, saddle.z, [-m for m in saddle.lam], y, RHO, activation)


def judged_steps(radius: float, depth: int) -> int:
    """Length of the judged run: at least LONG_RUN x L; where r < 1 long enough that r^T <=
    CONTRACTION (a converging run then reaches the fixed point); where r > 1 long enough that
    r^(T/2) >= DECISIVE; at most max(JUDGE_CAP x L, JUDGE_CAP_STEPS)."""
    rate = abs(math.log(radius)) if radius > 0 else math.inf
    if rate == 0:
        needed = math.inf
    elif radius < 1:
        needed = math.ceil(math.log(1 / CONTRACTION) / rate)
    else:
        needed = 2 * math.ceil(math.log(DECISIVE) / rate)
    return int(min(max(LONG_RUN * depth, needed), max(JUDGE_CAP * depth, JUDGE_CAP_STEPS)))


def predicted_behaviour(radius: float, steps: int) -> str:
    """"approaches" (r < 1) or "leaves" (r > 1) where r^(steps/2) differs from 1 by DECISIVE, else "undecided"."""
    change = (steps / 2) * math.log(radius) if radius > 0 else -math.inf
    if change <= -math.log(DECISIVE):
        return "approaches"
    if change >= math.log(DECISIVE):
        return "leaves"
    return "undecided"


def observed_rate(distances: np.ndarray) -> float:
    """The run's factor per activity step over its second half: exp of the least-squares slope of
    log(distance) against t (robust to the oscillation of complex modes); NaN if not finite."""
    end = len(distances) - 1
    t = np.arange(end // 2, end + 1)
    logs = np.log(np.maximum(distances[t], 1e-300))
    if not np.all(np.isfinite(logs)):
        return math.nan
    return float(np.exp(np.polyfit(t, logs, 1)[0]))


def observed_behaviour(distances: np.ndarray) -> str:
    """What the run did (module docstring): "approaches", "does not reach", "leaves" or "stalls"."""
    closest = float(np.nanmin(np.where(np.isfinite(distances), distances, np.nan))) if np.any(np.isfinite(distances)) else math.inf
    final = float(distances[-1]) if np.isfinite(distances[-1]) else math.inf
    if final <= REACHED:
        return "approaches"
    if closest > NEAR:
        return "does not reach"
    rate = observed_rate(distances)
    if final <= NEAR and math.isfinite(rate) and rate ** ((len(distances) - 1) / 2) <= 1 / SHRINK:
        return "approaches"
    if final >= SHRINK * closest:
        return "leaves"
    return "stalls"


def linearisation_applies(activation: str, pattern_match: Sequence[float]) -> bool:
    """Whether the Jacobian at the fixed point governs the run: always for a smooth activation
    (tanh; the distance rule of :func:`outcome` decides whether the run came near); for relu,
    whose schedule map is piecewise linear, only while the run stays in the fixed point's
    activation region (every hidden unit's sign the fixed point's, at T/2 and T)."""
    return activation != "relu" or min(pattern_match) == 1.0


def outcome(predicted: str, observed: str, applies: bool = True) -> tuple[str, str]:
    """("agrees" | "disagrees" | "undecided", why) for one net's prediction and observed run."""
    if predicted == "undecided":
        return "undecided", f"r^(T/2) within a factor {DECISIVE} of 1"
    if not applies:
        return "undecided", "the run left the fixed point's relu activation region: the Jacobian there does not govern it"
    if observed == "stalls":
        return "undecided", f"the run came within {NEAR} but neither shrank nor grew by {SHRINK}"
    if predicted == "approaches":
        if observed == "does not reach":
            return "undecided", f"the run never came within {NEAR} of the fixed point: the linearisation there says nothing about it"
        return ("agrees", "approaches") if observed == "approaches" else ("disagrees", f"r < 1 but the run {observed}")
    return ("disagrees", "r > 1 but the run approaches") if observed == "approaches" else ("agrees", observed)


def engine_trace(model: pcalm.MLP, x: np.ndarray, y: np.ndarray, algo, fixed_point: InferenceState, bp: list[np.ndarray], steps: int) -> dict[str, np.ndarray]:
    """The engine's canonical schedule (``algo``) to ``steps``: after every activity step t the
    relative distance of (z, lam) to the fixed point, ||lam||, ||z - feedforward|| and ||eps||
    (hidden); the weight gradient's cosine to BP's at COSINE_POINTS log-spaced budgets (the last at
    ``steps``); the fraction of hidden units whose sign (relu's activation pattern) is the fixed
    point's, at T/2 and T."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    target = torch.from_numpy(np.concatenate([a.ravel() for a in fixed_point.z + fixed_point.lam]))
    feedforward = torch.cat([a.reshape(-1) for a in model.feedforward(xt)[:-1]]).detach()
    cosine_steps = set(np.unique(np.geomspace(1, steps, COSINE_POINTS).round().astype(int)).tolist())
    saddle_pattern = torch.cat([torch.from_numpy(a).reshape(-1) > 0 for a in fixed_point.z])
    rows: dict[str, list[float]] = {"distance": [], "lam_norm": [], "z_from_feedforward": [], "eps_norm": [], "cosine_steps": [], "cosine_to_bp": [], "pattern_match": []}
    rho = algo.as_pcalm().rho

    def observe(step, z, lam, e):
        zs, lams = torch.cat([a.reshape(-1) for a in z]), torch.cat([a.reshape(-1) for a in lam])
        rows["distance"].append(float(torch.linalg.norm(torch.cat([zs, lams]) - target) / torch.linalg.norm(target)))
        rows["lam_norm"].append(float(lams.norm()))
        rows["z_from_feedforward"].append(float((zs - feedforward).norm()))
        rows["eps_norm"].append(float(torch.cat([(a - m).reshape(-1) for a, m in zip(e[:-1], lam)]).norm() / rho))
        if step in (steps // 2, steps):
            rows["pattern_match"].append(float((saddle_pattern == (zs > 0)).double().mean()))
        if step in cosine_steps:
            rows["cosine_steps"].append(step)
            rows["cosine_to_bp"].append(gradient_cosine([weight for weight, *_ in weight_gradients(model, xt, z, e)], bp))  # bias-free: each layer holds [W_l]

    pcalm.infer(model, xt, yt, algo, observer=observe)
    return {k: np.array(v) for k, v in rows.items()}


def method_algo(method: str, eta: float, steps: int | None = None):
    """The engine's schedule of the method: PC-ALM (alpha = rho = 1) or PC."""
    return pcalm.PC(eta=eta, steps=steps) if method == "pc" else pcalm.PCALM(eta=eta, alpha=ALPHA, rho=RHO, steps=steps)


def measure_net(activation: str, depth: int, x: np.ndarray, y: np.ndarray, seed: int, method: str) -> dict:
    """Fixed point of the method, its gradient's distance to BP's (and the flipped-dual control's),
    the radius there and the engine's long run on one net."""
    weights = net_weights(activation, depth, x.shape[1], y.shape[1], seed)
    bp = numerics.bp_gradients(weights, x, y, activation)
    model = pcalm.MLP.from_weights([torch.from_numpy(w) for w in weights], activation=activation)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    eta = 1.0 / pcalm.activity_lambda_max(model, xt, yt, rho=RHO)
    alpha = ALPHA if method == "pc-alm" else 0.0
    z0 = numerics.feedforward(weights, x, activation)[:-1]

    def long_run_state():
        long_run = pcalm.infer(model, xt, yt, method_algo(method, eta, JUDGE_CAP * depth))
        return [t.numpy() for t in long_run.z], [t.numpy() for t in long_run.lam]

    starts = [("feedforward + noise", lambda: noisy_start(weights, x, activation, seed)), ("engine after its long run", long_run_state),
              ("feedforward", lambda: (z0, [np.zeros_like(z) for z in z0]))]
    fixed_point, used, failure = fixed_point_of(weights, x, y, activation, method, starts)
    result = {"activation": activation, "depth": depth, "eta": eta, "starts_used": used, "unsolved": failure, "weights": weights, "bp": bp}
    if fixed_point is None:
        return result
    radius = numerics.spectral_radius_at(weights, x, y, fixed_point.z, fixed_point.lam, eta, alpha, RHO if alpha else 1.0, 1, activation)
    steps = judged_steps(radius, depth)
    if activation == "relu":  # piecewise linear: extend the run only where it stays in the fixed point's activation region
        trace = engine_trace(model, x, y, method_algo(method, eta, LONG_RUN * depth), fixed_point, bp.weight_grads, LONG_RUN * depth)
        if steps > LONG_RUN * depth and linearisation_applies(activation, trace["pattern_match"]):
            trace = engine_trace(model, x, y, method_algo(method, eta, steps), fixed_point, bp.weight_grads, steps)
        else:
            steps = LONG_RUN * depth
    else:
        trace = engine_trace(model, x, y, method_algo(method, eta, steps), fixed_point, bp.weight_grads, steps)
    result.update({
        "radius": radius, "steps": steps, "trace": trace, "fixed_point": fixed_point,
        "fixed_point_vs_bp": relative_error(fixed_point.weight_grads, bp.weight_grads),
        "flipped_dual_vs_bp": relative_error(flipped_dual_gradient(weights, x, y, fixed_point, activation), bp.weight_grads),
        "fixed_point_max_eps": float(max(np.abs(e).max() for e in numerics.errors(weights, x, fixed_point.z, y, activation)[:-1])),
        "lam_vs_bp_signals": relative_error(fixed_point.lam, bp.backward_signals) if method == "pc-alm" else math.nan,
        "final_cosine_to_bp": float(trace["cosine_to_bp"][-1]),
    })
    return result


def read_net(n: dict) -> dict:
    """A measured net's prediction, observation and outcome (module docstring, part (b))."""
    if n["unsolved"]:
        return {"predicted": "undecided", "observed": "-", "outcome": "undecided", "why": f"no fixed point found: {n['unsolved']}"}
    predicted = predicted_behaviour(n["radius"], n["steps"])
    observed = observed_behaviour(n["trace"]["distance"])
    state, why = outcome(predicted, observed, linearisation_applies(n["activation"], n["trace"]["pattern_match"]))
    return {"predicted": predicted, "observed": observed, "outcome": state, "why": why}


def judge(fixed_point_errors: dict[str, float], unsolved: dict[str, str], readings: dict[str, dict], reached_cosines: dict[str, float]) -> list[Criterion]:
    """C8's criteria: (a) the fixed point's weight gradient is BP's; (b) the long runs agree with
    the radius, on enough decided nets; (c) where a run reached the fixed point, its gradient is BP's."""
    solved = list(fixed_point_errors.values())
    fixed_error = worst(solved) if solved else math.nan
    missing = [f"{name}: {why}" for name, why in unsolved.items() if why]
    undecided_a = f"no fixed point found for {'; '.join(missing)}" if missing and not fixed_error > SADDLE_TOLERANCE else ""
    disagreeing = sum(r["outcome"] == "disagrees" for r in readings.values())
    decided = sum(r["outcome"] != "undecided" for r in readings.values())
    reached = list(reached_cosines.values())
    return [
        Criterion("(a) max relative distance of the fixed point's weight gradient to BP's", fixed_error, "<=", SADDLE_TOLERANCE,
                  "float64 root finding (step tolerance 1e-12) from a start away from the feedforward pass agrees with BP to ~1e-14 at PC-ALM's saddle; PC's equilibrium (grad F*) and a flipped dual sign in the weight rule are O(1) away", undecided_a),
        Criterion("(b) decided nets whose long run disagrees with the radius", float(disagreeing), "<=", 0.0,
                  f"r < 1: the run approaches (d(T) <= {REACHED}, or d(T) <= {NEAR} shrinking by {SHRINK}x over the second half); r > 1: it does not approach"),
        Criterion(f"(b) decided nets (r^(T/2) a factor {DECISIVE} from 1; the run read within {NEAR} of the fixed point where r < 1)", float(decided), ">=", float(MIN_DECIDED),
                  f"an agreement judged on fewer nets says little; the judged run lasts up to max({JUDGE_CAP} L, {JUDGE_CAP_STEPS}) steps to make r^(T/2) visible"),
        Criterion(f"(c) min cosine of the engine's gradient to BP's where its run reached the fixed point (d(T) <= {REACHED})", min(reached) if reached else math.nan, ">=", 1.0 - REACHED_COSINE_GAP,
                  f"at relative distance {REACHED} the gradient is the fixed point's to 1 - O(d^2)",
                  "" if reached else f"no run reached its fixed point (d(T) <= {REACHED}) within its judged run"),
    ]


def flipped_control(n: dict, x: np.ndarray, y: np.ndarray) -> dict:
    """The negative control on one net (numerics/, float64): the schedule with the dual's sign
    flipped in the dynamics (lam <- lam - alpha eps) from the canonical start, its radius at the
    saddle (the same fixed point: eps = 0 and dL/dz = 0), its run's distance trace, and the flipped
    weight rule's gradient at the saddle and at the run's end."""
    weights, saddle, activation = n["weights"], n["fixed_point"], n["activation"]
    radius = numerics.spectral_radius_at(weights, x, y, saddle.z, saddle.lam, n["eta"], -ALPHA, RHO, 1, activation)
    steps = LONG_RUN * n["depth"]
    target = np.concatenate([a.ravel() for a in saddle.z + saddle.lam])
    z = numerics.feedforward(weights, x, activation)[:-1]
    lam = [np.zeros_like(a) for a in z]
    distances = [float(np.linalg.norm(np.concatenate([a.ravel() for a in z + lam]) - target) / np.linalg.norm(target))]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            z, lam = numerics.outer_iteration(weights, x, y, z, lam, n["eta"], -ALPHA, RHO, 1, activation)
            distances.append(float(np.linalg.norm(np.concatenate([a.ravel() for a in z + lam]) - target) / np.linalg.norm(target)))
            if not distances[-1] < 1e12:
                distances[-1] = math.inf
                break
    distances = np.array(distances)
    final = numerics.weight_grads(weights, x, z, [-m for m in lam], y, RHO, activation)
    cosine = gradient_cosine(final, n["bp"].weight_grads) if np.all([np.all(np.isfinite(g)) for g in final]) else math.nan
    predicted = predicted_behaviour(radius, steps)
    observed = observed_behaviour(distances)
    state, why = outcome(predicted, observed)
    return {"radius": radius, "steps": len(distances) - 1, "reading": {"predicted": predicted, "observed": observed, "outcome": state, "why": why},
            "fixed_point_vs_bp": n["flipped_dual_vs_bp"], "final_distance": float(distances[-1]), "final_cosine_to_bp": cosine}


def check(ctx: CheckContext) -> Verdict:
    """Fixed points, radii and long runs of tanh and relu nets under the method under test; judge C8."""
    start = time.perf_counter()
    x, y = (t.double().numpy() for t in load_dataset("digits").training_batch(BATCH, ctx.seed))
    nets = {f"{act} L={depth}": measure_net(act, depth, x, y, ctx.seed, ctx.method) for act in ACTIVATIONS for depth in DEPTHS[ctx.tier]}
    solved = {name: n for name, n in nets.items() if not n["unsolved"]}
    readings = {name: read_net(n) for name, n in nets.items()}
    reached = {name: n["final_cosine_to_bp"] for name, n in solved.items() if readings[name]["outcome"] == "agrees" and n["trace"]["distance"][-1] <= REACHED}
    criteria = judge({name: n["fixed_point_vs_bp"] for name, n in solved.items()}, {name: n["unsolved"] for name, n in nets.items()}, readings, reached)
    controls = {name: flipped_control(n, x, y) for name, n in solved.items() if n["depth"] == CONTROL_DEPTH} if ctx.method == "pc-alm" else {}
    control_criteria = judge({k: c["fixed_point_vs_bp"] for k, c in controls.items()}, {}, {k: c["reading"] for k, c in controls.items()},
                             {k: c["final_cosine_to_bp"] for k, c in controls.items() if c["reading"]["outcome"] == "agrees" and c["final_distance"] <= REACHED})
    control_verdict = Verdict("C8 control", "flipped dual sign", control_criteria).verdict
    evidence = {
        "method": ctx.method, "summary": {name: _summary(n, readings[name]) for name, n in nets.items()},
        "width": WIDTH, "batch": BATCH, "figure_run": f"T = {LONG_RUN} L", "judged_run": f"{LONG_RUN} L to max({JUDGE_CAP} L, {JUDGE_CAP_STEPS})", "alpha": ALPHA if ctx.method == "pc-alm" else 0.0, "rho": RHO, "gains": GAINS,
        "reading": {"near": NEAR, "reached": REACHED, "shrink": SHRINK, "decisive": DECISIVE},
        "nets": {name: _net_evidence(n, readings[name]) for name, n in nets.items()},
        "negative_control": {"name": "dual sign flipped in the dynamics (lam <- lam - alpha eps, numerics/) and in the weight rule (e = -lam + rho eps)",
                             "nets": controls, "criteria": [c.to_dict() for c in control_criteria], "verdict": control_verdict} if controls else "not run under --algo pc",
    }
    return Verdict("C8", "Past the budget: the fixed point's gradient is BP's; the schedule's radius predicts the long run", criteria, evidence, _plot(ctx, solved), time.perf_counter() - start)


def _summary(n: dict, reading: dict) -> str:
    """One line per net: radius, prediction, observation, outcome and why, fixed point vs BP."""
    if n["unsolved"]:
        return f"undecided: {reading['why']}"
    trace = n["trace"]
    return (f"r = {n['radius']:.6f}, predicted {reading['predicted']}, observed {reading['observed']} (closest {trace['distance'].min():.1e}, "
            f"final {trace['distance'][-1]:.1e} at T = {n['steps']}, rate {observed_rate(trace['distance']):.6f} per step over its second half): "
            f"{reading['outcome']} ({reading['why']}); fixed point vs BP {n['fixed_point_vs_bp']:.1e}")


def _net_evidence(n: dict, reading: dict) -> dict:
    if n["unsolved"]:
        return {"unsolved": n["unsolved"], "eta": n["eta"], **reading}
    trace, steps = n["trace"], n["steps"]
    depth = n["depth"]
    marks = sorted({depth, 2 * depth, LONG_RUN * depth, steps // 2, steps})
    cosines = dict(zip(trace["cosine_steps"].tolist(), trace["cosine_to_bp"].tolist()))
    best = int(np.argmax(trace["cosine_to_bp"]))
    return {
        "eta": n["eta"], "judged_steps": steps, "spectral_radius": n["radius"], "radius_power_half_run": float(n["radius"] ** (steps / 2)),
        "sign_pattern_match_at_half_and_end": trace["pattern_match"].tolist(), **reading,
        "observed_rate_per_step": observed_rate(trace["distance"]), "root_finding_starts": sorted(set(n["starts_used"])),
        "fixed_point_vs_bp": n["fixed_point_vs_bp"], "lam_vs_bp_signals": n["lam_vs_bp_signals"], "fixed_point_max_eps": n["fixed_point_max_eps"], "flipped_dual_vs_bp": n["flipped_dual_vs_bp"],
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
            if not shown.any():
                continue  # nothing to draw on log axes (PC: lam stays 0)
            label = f"{name} (r = {n['radius']:.5f})" if key == "distance" else name
            lines.append(Line(budgets[shown].tolist(), trace[key][shown].tolist(), label=label, style="-"))
        if not lines:
            continue
        figure = plot_lines(lines, ctx.figure(f"c8_{key}.png"), title=f"C8: {title}", xlabel="budget T (activity steps)", ylabel=key, logx=True, logy=key != "cosine_to_bp")
        paths.append(str(figure))
    return paths
