"""Cross-checks where the PyTorch engine (pcalm) meets the NumPy/SciPy numerics (numerics).

Everything runs in float64 on the CPU. The two packages share no code: the engine's
schedule uses the models' mu_l and J^T e in torch, numerics solves the KKT system with
SciPy and forms the schedule's linear map from assembled matrices.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import numerics
import pcalm

RESIDUAL_SHAPES = dict(n_in=5, width=6, depth=5, n_out=3)


def _plain_weights(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    widths = [4, 6, 5, 3, 2]
    return [rng.standard_normal((m, n)) / np.sqrt(n) for n, m in zip(widths[:-1], widths[1:])]


def _residual_weights(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    s = RESIDUAL_SHAPES
    return (
        [rng.standard_normal((s["width"], s["n_in"]))]
        + [rng.standard_normal((s["width"], s["width"])) for _ in range(s["depth"] - 2)]
        + [rng.standard_normal((s["n_out"], s["width"]))]
    )


def _batch(weights, batch: int, seed: int):
    rng = np.random.default_rng(seed + 1000)
    return rng.standard_normal((batch, weights[0].shape[1])), rng.standard_normal((batch, weights[-1].shape[0]))


def _t(arrays):
    return [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]


def _n(tensors):
    return [t.detach().numpy() for t in tensors]


def _rel(actual, expected) -> float:
    a = np.concatenate([np.ravel(v) for v in actual])
    e = np.concatenate([np.ravel(v) for v in expected])
    return float(np.linalg.norm(a - e) / np.linalg.norm(e))


def _model(kind: str, weights):
    cls = pcalm.MLP if kind == "plain" else pcalm.ResidualMLP
    return cls.from_weights(_t(weights), activation="linear")


def _effective(kind: str, weights):
    return weights if kind == "plain" else numerics.residual_effective_weights(weights)


@pytest.mark.parametrize("kind", ["plain", "residual"])
@pytest.mark.parametrize("method", ["pc-alm", "pc"])
def test_engine_long_run_reaches_the_exact_equilibrium(kind, method):
    """After T outer iterations at eta = 0.5 eta_max (alpha = 1, rho = 1; PC: 2/lambda_max),
    the predicted remaining error r^T is below 1e-13, so the engine's z, lam and weight
    gradients must equal ``linear_equilibrium`` to 1e-9 relative (float64; cond(K) < 1e3
    here, so the exact solution itself is good to ~1e-13)."""
    weights = _plain_weights(0) if kind == "plain" else _residual_weights(0)
    eff = _effective(kind, weights)
    x, y = _batch(weights, 4, 0)
    alpha = 1.0 if method == "pc-alm" else 0.0
    eta = 0.5 * numerics.largest_stable_eta(eff, alpha, rtol=1e-6)
    radius = numerics.schedule_spectral_radius(eff, eta, alpha)
    steps = int(np.ceil(np.log(1e-13) / np.log(radius)))
    algo = pcalm.PCALM(eta, alpha=1.0, steps=steps) if method == "pc-alm" else pcalm.PC(eta, steps=steps)
    result = pcalm.infer(_model(kind, weights), *_t([x, y]), algo)
    exact = numerics.linear_equilibrium(eff, x, y, method)
    grads = exact.weight_grads if kind == "plain" else numerics.residual_weight_grads(exact.weight_grads, weights)
    assert _rel(_n(result.weight_grads), grads) <= 1e-9
    assert _rel(_n(result.z), exact.z) <= 1e-9
    if method == "pc-alm":
        assert _rel(_n(result.lam), exact.lam) <= 1e-9
        bp = numerics.bp_gradients(eff, x, y)
        assert _rel(_n(result.lam), bp.backward_signals) <= 1e-9


@pytest.mark.parametrize("kind", ["plain", "residual"])
def test_engine_matches_the_numpy_schedule_step_for_step(kind):
    """A short run (T = 7, k = 2, alpha = 0.7, rho = 1.5, timing "pre") of the engine and of
    ``numerics.run_schedule`` agree to 1e-12 relative: the same float64 arithmetic in a
    different order, over 14 activity steps of a contracting map."""
    weights = _plain_weights(1) if kind == "plain" else _residual_weights(1)
    eff = _effective(kind, weights)
    x, y = _batch(weights, 3, 1)
    eta = 0.8 * numerics.largest_stable_eta(eff, 0.7, 1.5, inner_steps=2, rtol=1e-6)
    algo = pcalm.PCALM(eta, alpha=0.7, rho=1.5, steps=7, inner_steps=2)
    result = pcalm.infer(_model(kind, weights), *_t([x, y]), algo)
    ref = numerics.run_schedule(eff, x, y, eta, 7, alpha=0.7, rho=1.5, inner_steps=2)
    grads = ref.weight_grads if kind == "plain" else numerics.residual_weight_grads(ref.weight_grads, weights)
    assert _rel(_n(result.weight_grads), grads) <= 1e-12
    assert _rel(_n(result.z), ref.z) <= 1e-12
    assert _rel(_n(result.lam), ref.lam) <= 1e-12


@pytest.mark.parametrize("kind", ["plain", "residual"])
@pytest.mark.parametrize("eta_factor,alpha", [(0.5, 1.0), (0.9, 0.5)])
def test_spectral_radius_predicts_the_engines_contraction(kind, eta_factor, alpha):
    """The engine's distance to the exact saddle, recorded by its observer after every
    activity step (k = 1, so once per outer iteration), decays like r^t with
    r = ``schedule_spectral_radius``. Least-squares slope of log-distance over the last two
    thirds of a run of log(1e-11)/log(r) iterations (above the float64 floor); tolerance 5% of (1 - r) (the NumPy schedule
    stays within 2.5% in tests/numerics)."""
    weights = _plain_weights(2) if kind == "plain" else _residual_weights(2)
    eff = _effective(kind, weights)
    x, y = _batch(weights, 3, 2)
    eta = eta_factor * numerics.largest_stable_eta(eff, alpha, rtol=1e-6)
    radius = numerics.schedule_spectral_radius(eff, eta, alpha)
    exact = numerics.linear_equilibrium(eff, x, y)
    target = np.concatenate([np.ravel(a) for a in exact.z + exact.lam])
    distances = []

    def observe(step, z, lam, e):
        state = np.concatenate([np.ravel(a) for a in _n(z) + _n(lam)])
        distances.append(np.linalg.norm(state - target))

    steps = int(np.ceil(np.log(1e-11) / np.log(radius)))
    pcalm.infer(_model(kind, weights), *_t([x, y]), pcalm.PCALM(eta, alpha=alpha, steps=steps), observer=observe)
    assert distances[-1] < 1e-9 * distances[0]  # converged close to the exact saddle
    d = np.asarray(distances)
    window = slice(len(d) // 3, None)
    slope = np.polyfit(np.arange(len(d))[window], np.log(d[window]), 1)[0]
    assert abs(np.exp(slope) - radius) <= 0.05 * (1.0 - radius)


@pytest.mark.parametrize("kind", ["plain", "residual"])
def test_engine_auto_eta_is_one_over_numpy_lambda_max(kind):
    """``PCALM(eta="auto")`` (torch Lanczos on autograd Hessian-vector products, rtol 1e-6)
    against ``numerics.hessian_lambda_max`` (dense eigvalsh): 1e-6 relative."""
    weights = _plain_weights(3) if kind == "plain" else _residual_weights(3)
    eff = _effective(kind, weights)
    x, y = _batch(weights, 2, 3)
    result = pcalm.infer(_model(kind, weights), *_t([x, y]), pcalm.PCALM("auto", steps=1))
    expected = numerics.hessian_lambda_max(eff)
    assert abs(1.0 / result.eta - expected) <= 1e-6 * expected
