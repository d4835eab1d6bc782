"""The inference engine: BP (by autograd; a residual MLP's on the stacked fast path by default),
and PC / PC-ALM by the canonical schedule of DESIGN section 3.

PC runs through the same loop as PC-ALM (lam frozen at 0, rho = 1): there is no second loop.
``infer`` resolves the algorithm into a :class:`pcalm.engine.schedule.Schedule` first; the loop
reads the schedule (which steps end with a dual step is its ``alphas``), not the config.

The loop here is the specification: it uses only the model's per-layer ``predict`` (mu_l),
``vjp`` (e J_l) and ``param_grads``, runs under ``torch.no_grad()`` and updates all hidden
layers at once. Each activity step costs one prediction pass: the errors at the new
activities serve both the dual step and the next activity step. The energy and the local
rules it applies are in :mod:`pcalm.engine.energy`. A ResidualMLP runs by default on the fast path
(:mod:`pcalm.engine.stacked`), the same schedule with all layers stacked, checked against this loop.
"""

from __future__ import annotations

from typing import Callable

import torch

from pcalm.engine import stacked
from pcalm.engine.algorithms import BP, PC, PCALM, Algorithm
from pcalm.engine.energy import activity_step, dual_step, effective_errors, layer_energies, prediction_errors, weight_gradients
from pcalm.models.base import LayeredModel
from pcalm.engine.result import InferenceResult, NonFiniteActivityError, raise_if_not_finite
from pcalm.engine.schedule import Schedule, resolve
from pcalm.engine.validation import check_inputs

Tensor = torch.Tensor
Observer = Callable[[int, list[Tensor], list[Tensor], list[Tensor]], None]


def infer(
    model: LayeredModel, x: Tensor, y: Tensor, algo: Algorithm | Schedule, observer: Observer | None = None, fast: bool | None = None
) -> InferenceResult:
    """Run ``algo`` on the batch (x, y) and return its weight gradients and final state.

    BP: autograd of l = 1/(2B) ||y - y_hat||^2. PC / PC-ALM: the canonical schedule of DESIGN
    section 3 on L_rho = 1/B (1/2 ||eps_L||^2 + sum_l <lam_l, eps_l> + rho/2 ||eps_l||^2),
    activity steps z_l <- z_l - eta dL_rho/dz_l, dual steps lam_l <- lam_l + alpha eps_l where the
    schedule says, and the weight gradient dL_rho/dW_l at the end.

    Arguments:
        model, x, y: the network and the batch (x clamped, y the target).
        algo: BP(), PC, PCALM (resolved here: :func:`pcalm.engine.schedule.resolve`, Lanczos for
            eta = "auto"), or a Schedule already resolved for this model.
        observer: ``observer(step, z, lam, e)``, if given, is called after every prediction pass
            of PC / PC-ALM (step 0 is the feedforward start) with the current hidden activities,
            multipliers and effective errors e_1..e_L; it runs the reference loop.
        fast: PC / PC-ALM on a residual MLP without an observer run on the stacked,
            layer-parallel fast path of :mod:`pcalm.engine.stacked` (same numbers, checked to 1e-12 in
            float64) unless ``fast`` is False; True insists on it (ValueError where it does not apply).
            BP on a residual MLP likewise (:mod:`pcalm.engine.stacked.bp`), unless ``BP.fast``
            says otherwise; False runs autograd.

    Returns:
        The InferenceResult: per-layer parameter gradients (``param_grads``, aligned with
        ``model.layer_parameters(l)``) with the sign and scale autograd puts in ``.grad``.
    """
    check_inputs(model, x, y)
    if isinstance(algo, BP):
        bp_fast = algo.fast if algo.fast is not None else fast
        if bp_fast and not stacked.supports(model):
            raise ValueError(f"fast: the stacked BP runs a ResidualMLP; got a {type(model).__name__}")
        return stacked.backprop(model, x, y) if bp_fast is not False and stacked.supports(model) else _backprop(model, x, y)
    if not isinstance(algo, (PC, PCALM, Schedule)):
        raise ValueError(f"algo: expected BP, PC, PCALM or a Schedule, got {type(algo).__name__}")
    applies = stacked.supports(model) and observer is None
    if fast and not applies:
        raise ValueError(f"fast: the fast path runs a ResidualMLP without an observer; got a {type(model).__name__}, observer={observer is not None}")
    schedule = resolve(algo, model, x, y)
    if applies and fast is not False:
        return stacked.augmented_lagrangian(model, x, y, schedule)
    return _augmented_lagrangian(model, x, y, schedule, observer)


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
    signals = [-batch * g for g in grads[len(params):]]
    return InferenceResult(
        param_grads=model.split_parameter_grads(param_grads),
        z=[h.detach() for h in hidden],
        lam=signals,
        energies=loss.reshape(1),
        layer_energies=torch.cat([torch.zeros(model.depth - 1, dtype=loss.dtype, device=loss.device), loss.reshape(1)]).reshape(1, -1),
        eta=None,
        way="autograd",
    )


@torch.no_grad()
def _augmented_lagrangian(model: LayeredModel, x: Tensor, y: Tensor, schedule: Schedule, observer: Observer | None) -> InferenceResult:
    """The canonical schedule, per layer: after each activity step, the prediction pass and, where
    the schedule's alpha is not 0, the dual step with the same errors (T-1 rounds of k steps and a
    dual step, then k final steps, and a last dual step under "post" timing); the weight gradient
    at the final (z, lam)."""
    eta, rho = schedule.eta, schedule.rho
    z = [a.detach() for a in model.feedforward(x)[:-1]]
    lam = [torch.zeros_like(z_l) for z_l in z]
    eps = prediction_errors(model, x, y, z)
    e = effective_errors(eps, lam, rho)
    trace = [layer_energies(eps, lam, rho)]
    if observer is not None:
        observer(0, z, lam, e)
    dual_updates = 0
    for step, alpha in enumerate(schedule.alphas, start=1):
        z = activity_step(model, z, e, eta)
        eps = prediction_errors(model, x, y, z)
        trace.append(layer_energies(eps, lam, rho))
        if observer is not None:
            observer(step, z, lam, effective_errors(eps, lam, rho))
        if alpha != 0.0:  # PC (alpha = 0): lam stays 0
            lam = dual_step(lam, eps, alpha)
            dual_updates += len(lam)
        e = effective_errors(eps, lam, rho)  # at the lam the next step (or the weight gradient) reads
    per_layer = torch.stack(trace)
    raise_if_not_finite(per_layer, schedule)
    work = {"layer_steps": len(schedule.alphas) * len(z), "dual_updates": dual_updates}
    return InferenceResult(weight_gradients(model, x, z, e), z, lam, per_layer.sum(dim=1), per_layer, eta, work)
