"""The fast path's buffers and loop: the canonical schedule of DESIGN section 3 for the residual
MLP with all hidden layers stacked.

It runs the schedule of the reference loop (:func:`pcalm.engine.inference._augmented_lagrangian`,
checked against it in float64 to 1e-12 by ``tests/pcalm/engine/test_fast_path.py``), but keeps every layer's
state in one (L-1, B, N) tensor (the layout of :mod:`pcalm.models.residual_stacked`, whose
formulas it applies), so that one activity step of all L-1 hidden layers is a handful of batched
matmuls and in-place elementwise ops, whatever the depth: no autograd, no Python loop over
layers, no allocation in the loop, nothing kept from earlier steps.

Per activity step: the activity step, then the prediction pass at the new z, whose errors serve
both the dual step and the next activity step (one pass per step, as in the reference loop).
Then E = lam + rho Eps; where the schedule's alpha for the step is not 0, the dual step
lam <- lam + alpha eps is folded in as E = lam + (rho + alpha) Eps; lam += alpha Eps, so PC-ALM
costs PC's step plus this vector update. Where the schedule's errors are eps (PC: alpha = 0,
rho = 1) no lam is kept and E is Eps itself.

The steps run either as the eager ops, in a Python loop (LEps (2, L-1, B, N) = [lam; Eps] holds
both for one batched energy sum; D and V as in the formulas' module), or, on the CPU where
:mod:`pcalm.engine.stacked.fused` has built it and this machine's measurement chose it for the shape
(:mod:`pcalm.engine.stacked.choice`), in C++ (``run_steps``, from the feedforward start on):
there each thread takes its rows of the batch one layer at a time, two matmuls and then one pass
doing the activity update, the errors at the new z, the energy sums and the dual step while the
layer is in cache, and sweeps the layers SKEW steps at a time along a diagonal (step t of layer l
needs step t-1 of layers l, l+1 and step t of layer l-1); it needs no D, V or Eps. Both take the
schedule's ``alphas`` as data.

Wavefront: from the feedforward start every hidden eps_l and lam_l is 0 and only the read-out
error is not, and layer l's step reads layers l-1, l, l+1 only, so activity step s can change
the top s hidden layers alone (indices H - s and up, H = L-1): below them z - eta (0 - 0) = z,
eps stays 0 and lam += alpha 0 stays 0. Both ways run each step on those layers only (the
ranges of :func:`wavefront`, by the structure of the loop, not by a test of values), which
skips sum_s (H - min(s, H)) of the T k H layer-steps (at T = 2L about a quarter). ``dense=True``
runs every layer at every step instead; the numbers agree to rounding (see :func:`wavefront`).

Energies: each step stores per-layer sums, not the L_rho terms themselves: <eps_l, lam_l> and
<eps_l, eps_l> for all hidden layers at once (PC: <eps_l, eps_l> alone; one batched dot product
on the eager path; in the fused run, per thread, in the working precision over blocks of 8 cache
lines and in float64 across blocks), and the terms <lam, eps> + rho/2 |eps|^2
are formed from the (steps+1, L) table after the loop. The check for non-finite values runs
once, on that table, as in the reference loop.
"""

from __future__ import annotations

import torch

from pcalm.models import residual_stacked as formulas
from pcalm.models.base import LayeredModel
from pcalm.models.residual import ResidualMLP
from pcalm.engine.result import InferenceResult, raise_if_not_finite
from pcalm.engine.algorithms import PCALM
from pcalm.engine.schedule import Schedule, resolve
from pcalm.engine.stacked import choice
from pcalm.engine.stacked.choice import SKEW
from pcalm.engine.stacked.fused import ACTIVATIONS
from pcalm.engine.stacked.fused import kernels as fused_kernels

Tensor = torch.Tensor


def wavefront(hidden_layers: int, steps: int, dense: bool = False) -> list[int]:
    """The lowest hidden index each activity step runs on.

    Step s (1-based) from the feedforward start can change hidden indices H - s .. H - 1 only
    (H = L-1 hidden layers): credit moves down one layer per step. The skipped layers hold their
    feedforward z, and e = lam = 0 exactly, where the dense run recomputes eps_l =
    z_l - mu_l(z_{l-1}) at them, which is 0 up to the rounding of the feedforward pass (a few ulps:
    the same sum in another order), so the two agree to rounding, not always bit for bit.

    Arguments:
        hidden_layers: H; steps: T k, the number of activity steps; dense: every step on every
            layer (all 0s), for comparison and debugging.

    Returns:
        For each step s = 1..T k, max(0, H - s) (dense: 0).
    """
    return [0 if dense else max(0, hidden_layers - step) for step in range(1, steps + 1)]


def supports(model: LayeredModel) -> bool:
    """Whether the fast path implements ``model``: the residual MLP, every activation."""
    return isinstance(model, ResidualMLP)


class _StackedState:
    """Preallocated buffers of one run (the layout of :mod:`pcalm.models.residual_stacked`).

    ``eager``: the feedforward start and the steps run here (:meth:`_start`, :meth:`step`);
    otherwise the fused kernels' ``run_steps`` fills the buffers allocated here, which then need
    no D, V or Eps."""

    def __init__(self, model: ResidualMLP, x: Tensor, y: Tensor, schedule: Schedule, eager: bool) -> None:
        depth, batch, width = model.depth, x.shape[0], model.width
        self.model, self.y, self.batch, self.schedule = model, y, batch, schedule
        self.weights = formulas.StackedWeights.of(model)
        self.keeps_lam = not schedule.errors_are_eps
        linear = model.activation.name == "linear"
        new = x.new_empty
        self.P = new(depth, batch, width)
        self.Z = self.P[1:]
        self.A = self.Z if linear else new(depth - 1, batch, width)
        self.D = new(depth - 1, batch, width) if eager and not linear else None
        self.one = x.new_ones(())  # the 1 of tanh's phi' = 1 - a^2, as an addcmul operand
        self.V = new(depth - 1, batch, width) if eager else None
        self.eps_out = new(y.shape)
        if not self.keeps_lam:
            self.lam = None
            self.E = self.Eps = new(depth - 1, batch, width)
        elif eager:
            self.LEps = new(2, depth - 1, batch, width)
            self.lam, self.Eps = self.LEps[0], self.LEps[1]
            self.E = new(depth - 1, batch, width)
        else:
            self.lam, self.E = new(depth - 1, batch, width), new(depth - 1, batch, width)
        if eager:
            self._start(x)

    def _start(self, x: Tensor) -> None:
        """Eager path: the feedforward start, from the model's own per-layer predictions (every
        hidden eps is 0), with e = lam = 0. The fused kernels do the same on their own."""
        activities = self.model.feedforward(x)
        torch.stack([activities[0], *activities[:-1]], out=self.P)
        torch.sub(self.y, activities[-1], out=self.eps_out)
        self.E.zero_()
        if self.keeps_lam:
            self.LEps.zero_()
        formulas.activate(self.model, self.Z, self.A, self.D, self.one)

    def step(self, hidden: Tensor, out: Tensor, alpha: float, first: int) -> int:
        """Eager path: one activity step on the hidden layers ``first`` and up (the wavefront;
        the others cannot change), the prediction pass at the new z, its energy sums (``hidden``,
        ``out``), then E = lam + rho eps with the dual step lam <- lam + alpha eps folded in where
        ``alpha`` is not 0 (DESIGN section 3).

        Returns:
            The number of hidden layers whose lam the step updated (0, or those it ran on).
        """
        model, schedule, top = self.model, self.schedule, slice(first, None)
        D = self.D[top] if self.D is not None else None
        formulas.activity_step(model, self.weights, self.Z, self.E, self.eps_out, self.D, self.V, schedule.eta, first)
        formulas.activate(model, self.Z[top], self.A[top], D, self.one)
        formulas.prediction_errors(model, self.weights, self.P, self.A, self.y, self.Eps, self.eps_out, first)
        torch.dot(self.eps_out.view(-1), self.eps_out.view(-1), out=out)
        self._record(hidden[top], first)
        if not self.keeps_lam:
            return 0
        torch.add(self.lam[top], self.Eps[top], alpha=schedule.rho + alpha, out=self.E[top])
        if alpha == 0.0:
            return 0
        self.lam[top].add_(self.Eps[top], alpha=alpha)
        return self.lam.shape[0] - first

    def _record(self, hidden: Tensor, first: int) -> None:
        """Eager path: per-layer sums of this step at the hidden layers ``first`` and up, before
        any dual step, in one batched op: hidden[i] = [<eps, lam>, <eps, eps>] (PC: [<eps, eps>])."""
        layers = self.Eps.shape[0] - first
        flat = self.Eps[first:].view(layers, 1, -1)
        if self.keeps_lam:
            pair = self.LEps.view(2, self.Eps.shape[0], -1)[:, first:].permute(1, 2, 0)
            torch.bmm(flat, pair, out=hidden)
        else:
            torch.bmm(flat, flat.transpose(1, 2), out=hidden)

    def layer_energies(self, hidden: Tensor, out: Tensor) -> Tensor:
        """The (steps+1, L) table of L_rho's per-layer terms from the recorded sums:
        (<lam, eps> + rho/2 |eps|^2)/B for hidden layers, |eps_L|^2/(2B) for the read-out."""
        hidden = hidden.to(out.dtype)
        squares = hidden[..., 0, -1]
        hidden_terms = hidden[..., 0, 0] + 0.5 * self.schedule.rho * squares if self.keeps_lam else 0.5 * squares
        return torch.cat([hidden_terms, 0.5 * out.unsqueeze(1)], dim=1) / self.batch


def _run_fused(kernels, state: _StackedState, x: Tensor, hidden: Tensor, out: Tensor, first_layers: list[int], skew: int) -> dict[str, int]:
    """The feedforward start and every step in C++ (``run_steps``); returns the work it counted."""
    model, schedule = state.model, state.schedule
    tensors = {
        "x": x.contiguous(), "y": state.y.contiguous(), "w_in": model.w_in.detach(), "w_hidden": state.weights.w_hidden,
        "w_hidden_t": state.weights.w_hidden_t, "w_out": state.weights.w_out, "p": state.P, "a": state.A, "e": state.E,
        "eps_out": state.eps_out, "hidden_sums": hidden, "out_sums": out,
    }
    if state.lam is not None:
        tensors["lam"] = state.lam
    options = kernels.Options(
        alphas=list(schedule.alphas), first_layers=first_layers, skew=skew, activation=ACTIVATIONS[model.activation.name],
        s_in=model.s_in, s_h=model.s_h, s_out=model.s_out, eta=schedule.eta, rho=schedule.rho,
    )
    return dict(kernels.run_steps(tensors, options))


def time_one_run(fused: bool, depth: int, width: int, skew: int) -> float:
    """Seconds of one PC-ALM run of TIMED_STEPS dense activity steps on the class's representative
    shape (relu, batch BATCH, float32), ``fused`` or eager, with sweep length ``skew``: the
    timer of :func:`pcalm.engine.stacked.choice.measure` for "inference"."""
    model, x, y = choice.representative(depth, width)
    schedule = resolve(PCALM(eta=0.1, steps=choice.TIMED_STEPS), model, x, y)
    return choice.seconds(lambda: augmented_lagrangian(model, x, y, schedule, fused=fused, dense=True, skew=skew))


@torch.no_grad()
def augmented_lagrangian(
    model: ResidualMLP, x: Tensor, y: Tensor, schedule: Schedule, fused: bool | None = None, dense: bool = False, skew: int | None = None
) -> InferenceResult:
    """The canonical schedule of DESIGN section 3 on the stacked state: after each activity step
    z_l <- z_l - eta (e_l - e_{l+1} J_{l+1}), the dual step lam_l <- lam_l + alpha_s eps_l where the
    schedule's alpha_s is not 0; weight gradient dL_rho/dW_l = -s_l/B e_l^T a_{l-1} at the end.
    Same contract as the reference loop, without the observer.

    Arguments:
        model, x, y: the residual MLP and the batch (x clamped, y the target).
        schedule: the resolved schedule (:func:`pcalm.engine.schedule.resolve`).
        fused: None takes this machine's measured choice for the shape (:func:`pcalm.engine.stacked.choice.choose`:
            the fused CPU kernels or the eager ops, and the sweep length); False forces the eager
            ops; True insists on the kernels (RuntimeError where they are unavailable).
        dense: run every layer at every step instead of the wavefront's layers (:func:`wavefront`).
        skew: the fused run's steps per sweep (None: the choice's, or SKEW when ``fused`` is given).

    Returns:
        The InferenceResult, with ``work`` the layer-steps and dual updates counted as they ran
        (the fused run counts one thread's rows; each thread runs the same layer-steps); a layer
        the wavefront skips is not counted; ``way`` is "fused" or "eager".
    """
    if fused is None:
        way = choice.choose("inference", model.width, model.depth, x.device, time_one_run)
        fused, skew = way.fused, skew if skew is not None else way.skew
    skew = SKEW if skew is None else skew
    kernels = None if fused is False else fused_kernels(x.device)
    if fused and kernels is None:
        raise RuntimeError(f"fused: the fused kernels are unavailable on {x.device} (see pcalm.engine.stacked.fused)")
    state = _StackedState(model, x, y, schedule, eager=kernels is None)
    steps = len(schedule.alphas)
    first_layers = wavefront(model.depth - 1, steps, dense)
    reductions = 2 if state.keeps_lam else 1
    # Per step and hidden layer: [<eps, lam>, <eps, eps>] (PC: [<eps, eps>]); the fused kernels return float64 sums.
    hidden = torch.zeros(steps + 1, model.depth - 1, 1, reductions, dtype=x.dtype if kernels is None else torch.float64, device=x.device)
    out = x.new_empty(steps + 1)
    if kernels is not None:
        work = _run_fused(kernels, state, x, hidden, out, first_layers, skew)
    else:
        # Step 0 is the feedforward start: every hidden eps is 0, so hidden[0] stays 0.
        torch.dot(state.eps_out.view(-1), state.eps_out.view(-1), out=out[0])
        dual_updates = 0
        for step, (alpha, first) in enumerate(zip(schedule.alphas, first_layers), start=1):
            dual_updates += state.step(hidden[step], out[step], alpha, first)
        work = {"layer_steps": sum(model.depth - 1 - first for first in first_layers), "dual_updates": dual_updates}
    per_layer = state.layer_energies(hidden, out)
    raise_if_not_finite(per_layer, schedule)
    weight_grads = formulas.weight_gradients(model, x, state.E, state.A, state.eps_out)
    lam = state.lam if state.lam is not None else torch.zeros_like(state.Z)
    return InferenceResult(
        param_grads=[[g] for g in weight_grads],
        z=list(state.Z.unbind(0)),
        lam=list(lam.unbind(0)),
        energies=per_layer.sum(dim=1),
        layer_energies=per_layer,
        eta=schedule.eta,
        work=work,
        way="fused" if kernels is not None else "eager",
    )
