"""C6 - same budget: PC-ALM runs on PC's budget T and adds one vector update per layer and step.

Counted, not timed: on the same net and batch, with the same T, the method under test and PC
make the same number of activity steps, prediction passes (calls of mu_l), vector-Jacobian
products and weight-gradient products; its only extra work is the dual step, exactly one vector
update lam_l += alpha eps_l per hidden layer and round, none after the last round (the paper's
schedule, "pre" timing): (L-1)(T-1) in all. The fast path skips the layers credit has not yet
reached (after s steps from the feedforward start only the top s hidden layers can be non-zero;
below them lam += alpha 0 changes nothing), so there the count is one per reached hidden layer
and round, sum over rounds r < T of min(r k, L-1). Judged from both sides, so that a method with
no dual step (PC in PC-ALM's place, ``--algo pc``) fails as surely as one with extra work.

The dual updates are counted where they happen, on the paths users run: the reference loop
(a plain MLP, every call of its dual step counted) and the fast path of a ResidualMLP in both
ways, the fused CPU kernel (which counts its own layer-steps with a dual update) and the eager
ops, as ``InferenceResult.work`` reports them. Wall-clock time per step is measured and reported
as evidence (speed is judged by ``pcalm bench``, not here).
"""

from __future__ import annotations

import time
from collections import Counter
from unittest import mock

import torch

import pcalm
import pcalm.engine.inference
import pcalm.engine.stacked
from paper_checks.methods import method_under_test
from paper_checks.verdict import CheckContext, Criterion, Verdict
from pcalm.experiments.bench import time_interleaved
from pcalm.engine.schedule import resolve

COUNTED = ("predict", "vjp", "param_grads")


def count_work(model: pcalm.LayeredModel, x: torch.Tensor, y: torch.Tensor, algo) -> Counter:
    """Calls of the model's per-layer operations, activity steps and dual-updated layers in one run."""
    counts: Counter = Counter()
    originals = {name: getattr(model, name) for name in COUNTED}

    def counting(name):
        def call(*args):
            counts[name] += 1
            return originals[name](*args)

        return call

    real_dual_step = pcalm.engine.inference.dual_step

    def counting_dual_step(lam, eps, alpha):
        counts["dual layer updates"] += len(lam)
        return real_dual_step(lam, eps, alpha)

    for name in COUNTED:
        object.__setattr__(model, name, counting(name))
    try:
        with mock.patch.object(pcalm.engine.inference, "dual_step", counting_dual_step):
            result = pcalm.infer(model, x, y, algo)
    finally:
        for name in COUNTED:
            object.__delattr__(model, name)
    counts["activity steps"] = len(result.energies) - 1
    return counts


def fast_path_dual_updates(model: pcalm.ResidualMLP, x: torch.Tensor, y: torch.Tensor, algo) -> dict[str, int]:
    """Dual layer updates of one run on each way of the fast path, as the run counted them:
    "default" is what ``pcalm.infer`` runs (the fused kernel on a CPU that has it), "eager" the
    eager ops."""
    schedule = resolve(algo, model, x, y)
    return {
        "default": pcalm.infer(model, x, y, algo).work["dual_updates"],
        "eager": pcalm.engine.stacked.augmented_lagrangian(model, x, y, schedule, fused=False).work["dual_updates"],
    }


def check(ctx: CheckContext) -> Verdict:
    """Count both methods' work at equal T and time them; judge C6 on the counts."""
    start = time.perf_counter()
    depth, steps, eta = 8, 16, 0.2
    model = pcalm.MLP([20] + [32] * (depth - 1) + [10], activation="relu", seed=ctx.seed)
    generator = torch.Generator().manual_seed(ctx.seed)
    x, y = torch.randn(64, 20, generator=generator), torch.randn(64, 10, generator=generator)
    tested = method_under_test(ctx, eta, steps=steps)
    work = count_work(model, x, y, tested)
    pc_work = count_work(model, x, y, pcalm.PC(eta=eta, steps=steps))
    hidden = depth - 1

    residual = pcalm.ResidualMLP(64, 128, 32, 10, "relu", seed=ctx.seed)
    xr, yr = torch.randn(64, 64, generator=generator), torch.randn(64, 10, generator=generator)
    residual_hidden, residual_steps = residual.depth - 1, 2 * residual.depth
    reached = sum(min(round_, residual_hidden) for round_ in range(1, residual_steps))  # k = 1
    fast_dual = fast_path_dual_updates(residual, xr, yr, method_under_test(ctx, eta))
    runs = {"tested": lambda: pcalm.infer(residual, xr, yr, method_under_test(ctx, eta)), "pc": lambda: pcalm.infer(residual, xr, yr, pcalm.PC(eta=eta))}
    ms = time_interleaved(runs, sync=lambda: None, warmup=2, repeats=7 if ctx.tier == "quick" else 21)
    time_ratio = ms["tested"] / ms["pc"]  # both T = 2L: the per-step cost ratio

    name = tested.name
    criteria = [
        Criterion(f"|{name} activity steps - PC's| at T = {steps}", float(abs(work["activity steps"] - pc_work["activity steps"])), "<=", 0.0, "same budget T: the same number of activity steps"),
    ]
    for op in COUNTED:
        criteria.append(Criterion(f"{name} {op} calls minus PC's", float(work[op] - pc_work[op]), "<=", 0.0, "the dual step reuses the errors of the last prediction pass: no extra layer operations"))
    # The paper's schedule: one dual step after each round but the last, on each hidden layer
    # (the fast path: on each hidden layer the credit has reached).
    wanted = {"reference loop": (work["dual layer updates"], hidden * (steps - 1), "(L-1)(T-1)")}
    wanted.update({f"fast path ({way})": (count, reached, "sum_{r<T} min(r, L-1)") for way, count in fast_dual.items()})
    for path, (count, expected, formula) in wanted.items():
        criteria.append(
            Criterion(f"|{name} dual layer updates - {formula}| on the {path}, {formula} = {expected}", float(abs(count - expected)), "<=", 0.0,
                      "exactly one vector update lam_l += alpha eps_l per hidden layer and round, none after the last round")
        )
    evidence = {
        "depth": depth, "steps": steps, "counts": dict(work), "pc_counts": dict(pc_work),
        "fast_path_dual_updates": fast_dual, "fast_path_depth": residual.depth, "fast_path_steps": residual_steps,
        "time_per_step_ratio_to_pc": time_ratio,
        "timing_model": "ResidualMLP N=128 L=32 relu, batch 64, T = 2L, float32, this machine; median of interleaved runs as in pcalm bench",
    }
    return Verdict("C6", "Same budget: PC's T plus one vector update per layer and round", criteria, evidence, [], time.perf_counter() - start)
