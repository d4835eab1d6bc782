"""The inference engine: BP by autograd, and PC / PC-ALM by the canonical schedule of DESIGN section 3.

PC runs through the same loop as PC-ALM (lam frozen at 0, rho = 1): there is no second loop.
The loop uses only the model's per-layer ``predict`` (mu_l), ``vjp`` (e J_l) and
``param_grads``; it runs under ``torch.no_grad()`` and updates all hidden layers at once.
Each activity step costs one prediction pass: the errors at the new activities serve both
the dual step and the next activity step. The energy and the local rules it applies are in
:mod:`pcalm.energy`.
"""

from __future__ import annotations

from typing import Callable

import torch

from pcalm import fast as fast_path
from pcalm.algorithms import BP, PC, PCALM, Algorithm
from pcalm.energy import activity_step, dual_step, effective_errors, layer_energies, prediction_errors, weight_gradients
from pcalm.models.base import LayeredModel
from pcalm.result import InferenceResult, NonFiniteActivityError, raise_if_not_finite
from pcalm.step_size import resolve_eta
from pcalm.validation import check_inputs

Tensor = torch.Tensor
Observer = Callable[[int, list[Tensor], list[Tensor], list[Tensor]], None]


def infer(
    model: LayeredModel, x: Tensor, y: Tensor, algo: Algorithm, observer: Observer | None = None, fast: bool | None = None
) -> InferenceResult:
    """Run ``algo`` on the batch (x, y) and return its weight gradients and final state.

    ``observer(step, z, lam, e)``, if given, is called after every prediction pass of
    PC / PC-ALM (step 0 is the feedforward start) with the current hidden activities,
    multipliers and effective errors e_1..e_L.

    ``fast``: PC / PC-ALM on a residual MLP without an observer run on the stacked,
    layer-parallel schedule of :mod:`pcalm.fast` (same numbers, checked to 1e-12 in float64)
    unless ``fast`` is False; True insists on it (ValueError where it does not apply).
    """
    check_inputs(model, x, y)
    if isinstance(algo, BP):
        return _backprop(model, x, y)
    if not isinstance(algo, (PC, PCALM)):
        raise ValueError(f"algo: expected BP, PC or PCALM, got {type(algo).__name__}")
    label = algo.name
    schedule = algo.as_pcalm() if isinstance(algo, PC) else algo
    applies = fast_path.supports(model) and observer is None
    if fast and not applies:
        raise ValueError(f"fast: the fast path runs a ResidualMLP without an observer; got a {type(model).__name__}, observer={observer is not None}")
    schedule = resolve_eta(schedule, model, x, y)
    if applies and fast is not False:
        return fast_path.augmented_lagrangian(model, x, y, schedule, label)
    return _augmented_lagrangian(model, x, y, schedule, label, observer)


def _backprop(model: LayeredModel, x: Tensor, y: Tensor) -> InferenceResult:
    """BP: autograd of l = 1/(2B) ||y - y_hat||^2; lam_l = -B dl/dz_l (BP's backward signals)."""
    batch = x.shape[0]
    params = list(model.parameters())
    with torch.enable_grad():
        activities = model.feedforward(x)
        hidden = activities[:-1]
        loss = 0.5 * ((y - activities[-1]) ** 2).sum() / batch
        grads = torch.autograd.grad(loss, params + hidden, allow_unused=True)
    loss = loss.detach()
    if not torch.isfinite(loss):
        raise NonFiniteActivityError(f"bp: the loss is not finite ({loss.item()}); check the weights and inputs")
    param_grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    weight_grads, bias_grads = model.split_parameter_grads(param_grads)
    signals = [-batch * g for g in grads[len(params):]]
    return InferenceResult(
        weight_grads=weight_grads,
        bias_grads=bias_grads,
        z=[h.detach() for h in hidden],
        lam=signals,
        energies=loss.reshape(1),
        layer_energies=torch.cat([torch.zeros(model.depth - 1, dtype=loss.dtype, device=loss.device), loss.reshape(1)]).reshape(1, -1),
        eta=None,
    )


@torch.no_grad()
def _augmented_lagrangian(model: LayeredModel, x: Tensor, y: Tensor, algo: PCALM, label: str, observer: Observer | None) -> InferenceResult:
    """The canonical schedule: T-1 rounds of (k activity steps, dual step), then k final activity
    steps with the same lam; weight gradient at (z, lam) ("pre") or (z, lam + alpha eps) ("post")."""
    eta, alpha, rho, k = float(algo.eta), algo.alpha, algo.rho, algo.inner_steps
    z = [a.detach() for a in model.feedforward(x)[:-1]]
    lam = [torch.zeros_like(z_l) for z_l in z]
    eps = prediction_errors(model, x, y, z)
    e = effective_errors(eps, lam, rho)
    trace = [layer_energies(eps, lam, rho)]
    if observer is not None:
        observer(0, z, lam, e)
    budget = algo.budget(model.depth)
    for round_ in range(budget):
        for _ in range(k):
            z = activity_step(model, z, e, eta)
            eps = prediction_errors(model, x, y, z)
            e = effective_errors(eps, lam, rho)
            trace.append(layer_energies(eps, lam, rho))
            if observer is not None:
                observer(len(trace) - 1, z, lam, e)
        if alpha != 0.0 and (round_ < budget - 1 or algo.timing == "post"):  # PC (alpha = 0): lam stays 0
            lam = dual_step(lam, eps, alpha)
            e = effective_errors(eps, lam, rho)
    per_layer = torch.stack(trace)
    raise_if_not_finite(per_layer, algo, label)
    weight_grads, bias_grads = weight_gradients(model, x, z, e)
    return InferenceResult(weight_grads, bias_grads, z, lam, per_layer.sum(dim=1), per_layer, eta)
