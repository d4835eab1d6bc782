"""The layer-parallel fast path: the canonical schedule of DESIGN section 3 for the residual MLP,
with all layers stacked.

It runs the same schedule as :func:`pcalm.inference._augmented_lagrangian` (and is checked
against it in float64 to 1e-12 by ``tests/test_fast_path.py``), but keeps every layer's state in
one (L-1, B, N) tensor, so that one activity step of all L-1 hidden layers is a handful of
batched matmuls and in-place elementwise ops, whatever the depth: no autograd, no Python loop
over layers, no allocation in the loop, nothing kept from earlier steps.

Stacked state (index i holds hidden layer l = i + 1; N the width, B the batch):

    P    (L, B, N)    [mu_1; z_1; ...; z_{L-1}]  (mu_1 = s_in x W_1^T is fixed: x is clamped),
                      so that Z = P[1:] and ``P[1:] - P[:-1]`` is [z_1 - mu_1; z_2 - z_1; ...]
    A, D (L-1, B, N)  phi(z_l), phi'(z_l)          (linear: A is Z itself, no D; fused: no D, no V)
    Eps  (L-1, B, N)  eps_l = z_l - mu_l(z_{l-1});  eps_out (B, n_L) = y - mu_L(z_{L-1})
    LEps (2, L-1, B, N) = [lam; Eps]  (PC: no lam; fused: lam alone, eps never stored)
    E    (L-1, B, N)  e_l = lam_l + rho eps_l      (PC: E is Eps)
    V    (L-1, B, N)  the backward branch of layer l+1: e_{l+1} W_{l+1}, scaled to s_h

One activity step, z_l <- z_l - eta (e_l - e_{l+1} J_{l+1}), with the residual MLP's
e J_{l+1} = e_{l+1} + s_h (e_{l+1} W_{l+1}) * phi'(z_l) for hidden blocks (DESIGN section 1) and
e_L J_L = s_out (e_L W_L) * phi'(z_{L-1}) for the read-out, is

    V[:-1] = E[1:] @ W_hidden;  V[-1] = (s_out/s_h) e_out W_L          (reads layer l+1)
    Z += eta s_h V * D;  Z -= eta E;  Z[:-1] += eta E[1:]               (reads layers l, l+1)

and the prediction pass at the new z, which gives the errors that both the dual step and the
next activity step use (one pass per step, as in the reference loop), is

    A = phi(Z);  D = phi'(Z)                                           (reads layer l)
    Eps = P[1:] - P[:-1];  Eps[1:] -= s_h A[:-1] @ W_hidden^T           (reads layers l-1, l)
                      (W_hidden^T: a contiguous copy made once per run, the faster bmm operand)
    eps_out = y - s_out A[-1] @ W_L^T

Every slice shifts by at most one layer: layer l's update reads layers l-1, l, l+1 only.
Then E = lam + rho Eps; where a dual step lam <- lam + alpha eps follows, it is folded in as
E = lam + (rho + alpha) Eps; lam += alpha Eps, so PC-ALM costs PC's step plus this vector update
(PC keeps no lam and E is Eps itself).

The steps run either as the eager in-place ops written here, in a Python loop, or, on the CPU
where :mod:`pcalm.fused` has built it, in C++ (``run_steps``, from the feedforward start on):
there each thread takes its rows of the batch one layer at a time, two matmuls and then one pass
doing the activity update, the errors at the new z, the energy sums and the dual step while the
layer is in cache, and sweeps the layers SKEW steps at a time along a diagonal (the order above
allows it: step t of layer l needs step t-1 of layers l, l+1 and step t of layer l-1). Which
steps end with a dual step is decided here, once, for both.

Energies: each step stores per-layer sums, not the L_rho terms themselves: <eps_l, lam_l> and
<eps_l, eps_l> for all hidden layers at once (PC: <eps_l, eps_l> alone; one batched dot product
on the eager path; in the fused run, per thread, in the working precision over blocks of 8 cache
lines and in float64 across blocks), and the terms <lam, eps> + rho/2 |eps|^2
are formed from the (steps+1, L) table after the loop. The check for non-finite values runs
once, on that table, as in the reference loop.
"""

from __future__ import annotations

import torch

from pcalm.algorithms import PCALM
from pcalm.fused import ACTIVATIONS
from pcalm.fused import kernels as fused_kernels
from pcalm.result import InferenceResult, raise_if_not_finite
from pcalm.models.base import LayeredModel
from pcalm.models.residual import ResidualMLP

Tensor = torch.Tensor
# Steps per diagonal sweep of the fused kernels (pcalm/csrc/fused_steps.cpp): each layer's state and
# weights come into cache once per SKEW steps; the results do not depend on it. 3 to 6 ran fastest
# on the 2-core CI machine (depth 32, width 128), 1 was 10% slower (docs/benchmarks.md).
SKEW = 4


def supports(model: LayeredModel) -> bool:
    """Whether the fast path implements ``model``: the residual MLP, every activation."""
    return isinstance(model, ResidualMLP)


class _StackedState:
    """Preallocated buffers of one run and the stacked operations of the schedule on them.

    ``eager``: the feedforward start and the steps run in :meth:`_start`, :meth:`activity_step`
    and :meth:`errors`; otherwise the fused kernels' ``run_steps`` (:mod:`pcalm.fused`) fills
    the buffers allocated here, which then need no D, V or Eps."""

    def __init__(self, model: ResidualMLP, x: Tensor, y: Tensor, algo: PCALM, eager: bool) -> None:
        depth, batch, width = model.depth, x.shape[0], model.width
        self.model, self.y, self.batch = model, y, batch
        self.activation = model.activation.name
        self.eta, self.alpha, self.rho = float(algo.eta), float(algo.alpha), float(algo.rho)
        self.w_hidden = model.w_hidden.detach()
        # W_l^T stored contiguously once per run: a matmul against it is faster than against a transposed view.
        self.w_hidden_t = self.w_hidden.transpose(1, 2).contiguous()
        self.w_out = model.w_out.detach()
        self.has_lam = not (self.alpha == 0.0 and self.rho == 1.0)
        new = x.new_empty
        self.P = new(depth, batch, width)
        self.Z = self.P[1:]
        self.A = self.Z if self.activation == "linear" else new(depth - 1, batch, width)
        self.D = new(depth - 1, batch, width) if eager and self.activation != "linear" else None
        self.one = x.new_ones(())  # the 1 of tanh's phi' = 1 - a^2, as an addcmul operand
        self.V = new(depth - 1, batch, width) if eager else None
        self.eps_out = new(y.shape)
        if not self.has_lam:
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
        if self.has_lam:
            self.LEps.zero_()
        self._activate()

    def _activate(self) -> None:
        """Eager path: A = phi(Z), D = phi'(Z) (relu: the mask z > 0, as sign(relu(z)); tanh:
        1 - tanh(z)^2), in place; linear has neither (A is Z)."""
        if self.activation == "relu":
            torch.clamp_min(self.Z, 0.0, out=self.A)
            torch.sign(self.A, out=self.D)
        elif self.activation == "tanh":
            torch.tanh(self.Z, out=self.A)
            torch.addcmul(self.one, self.A, self.A, value=-1.0, out=self.D)

    def activity_step(self) -> None:
        """z_l <- z_l - eta (e_l - e_{l+1} J_{l+1}) on all hidden layers at once (DESIGN section 3)."""
        s_h, s_out, eta = self.model.s_h, self.model.s_out, self.eta
        E, V, Z = self.E, self.V, self.Z
        above = E[1:]  # e_{l+1} for l = 1..L-2
        torch.bmm(above, self.w_hidden, out=V[:-1])
        torch.addmm(V[-1], self.eps_out, self.w_out, beta=0.0, alpha=s_out / s_h, out=V[-1])
        if self.D is None:  # linear
            Z.add_(V, alpha=eta * s_h)
        else:
            Z.addcmul_(V, self.D, value=eta * s_h)
        Z.sub_(E, alpha=eta)
        Z[:-1].add_(above, alpha=eta)
        self._activate()

    def errors(self, hidden: Tensor, out: Tensor, alpha: float) -> None:
        """The prediction pass at the new z (eps_l = z_l - mu_l(z_{l-1}), DESIGN section 1), its
        energy sums (``record``), then E = lam + rho eps, with the dual step lam <- lam + alpha eps
        folded in where ``alpha`` is not 0 (DESIGN section 3). PC: E is eps."""
        s_h, s_out = self.model.s_h, self.model.s_out
        below_activated = self.A[:-1]  # phi(z_{l-1}) for l = 2..L-1
        torch.addmm(self.y, self.A[-1], self.w_out.T, alpha=-s_out, out=self.eps_out)
        torch.dot(self.eps_out.view(-1), self.eps_out.view(-1), out=out)
        torch.sub(self.P[1:], self.P[:-1], out=self.Eps)
        self.Eps[1:].baddbmm_(below_activated, self.w_hidden_t, alpha=-s_h)
        self.record(hidden)
        if self.has_lam:
            torch.add(self.lam, self.Eps, alpha=self.rho + alpha, out=self.E)
            if alpha != 0.0:
                self.lam.add_(self.Eps, alpha=alpha)

    def record(self, hidden: Tensor) -> None:
        """Eager path: per-layer sums of this step, before any dual step, in one batched op:
        hidden[i] = [<eps, lam>, <eps, eps>] (PC: [<eps, eps>])."""
        flat = self.Eps.view(self.Eps.shape[0], 1, -1)
        if self.has_lam:
            pair = self.LEps.view(2, self.Eps.shape[0], -1).permute(1, 2, 0)
            torch.bmm(flat, pair, out=hidden)
        else:
            torch.bmm(flat, flat.transpose(1, 2), out=hidden)

    def layer_energies(self, hidden: Tensor, out: Tensor) -> Tensor:
        """The (steps+1, L) table of L_rho's per-layer terms from the recorded sums:
        (<lam, eps> + rho/2 |eps|^2)/B for hidden layers, |eps_L|^2/(2B) for the read-out."""
        hidden = hidden.to(out.dtype)
        squares = hidden[..., 0, -1]
        hidden_terms = hidden[..., 0, 0] + 0.5 * self.rho * squares if self.has_lam else 0.5 * squares
        return torch.cat([hidden_terms, 0.5 * out.unsqueeze(1)], dim=1) / self.batch

    def weight_gradients(self, x: Tensor) -> list[Tensor]:
        """dL_rho/dW_l = -s_l/B e_l^T a_{l-1} for all layers (a_0 = x, a_{l-1} = phi(z_{l-1})), aligned with ``model.weights()``."""
        model, batch = self.model, self.batch
        grad_in = torch.mm(self.E[0].T, x).mul_(-model.s_in / batch)
        grad_hidden = torch.bmm(self.E[1:].transpose(1, 2), self.A[:-1]).mul_(-model.s_h / batch)
        grad_out = torch.mm(self.eps_out.T, self.A[-1]).mul_(-model.s_out / batch)
        return [grad_in, *grad_hidden.unbind(0), grad_out]


@torch.no_grad()
def augmented_lagrangian(model: ResidualMLP, x: Tensor, y: Tensor, algo: PCALM, label: str, fused: bool | None = None) -> InferenceResult:
    """The canonical schedule of DESIGN section 3 on the stacked state: T-1 rounds of (k activity
    steps, dual step), then k final activity steps; weight gradient at (z, lam) ("pre") or at
    (z, lam + alpha eps) ("post"). Same contract as the reference loop, without the observer.

    ``fused``: None runs the fused CPU kernels where :func:`pcalm.fused.kernels` has them (a CPU
    batch, ``PCALM_FUSED`` not 0, a compiler), else the eager ops; False forces the eager ops;
    True insists on the kernels (RuntimeError where they are unavailable)."""
    kernels = None if fused is False else fused_kernels(x.device)
    if fused and kernels is None:
        raise RuntimeError(f"fused: the fused kernels are unavailable on {x.device} (see pcalm.fused)")
    state = _StackedState(model, x, y, algo, eager=kernels is None)
    # The dual step's alpha after each activity step: T-1 rounds of k steps end with one, and the
    # last round too where timing is "post"; 0 elsewhere.
    budget, k = algo.budget(model.depth), algo.inner_steps
    alphas = [
        state.alpha if inner == k - 1 and (round_ < budget - 1 or algo.timing == "post") else 0.0
        for round_ in range(budget)
        for inner in range(k)
    ]
    steps = len(alphas)
    reductions = 2 if state.has_lam else 1
    # Per step and hidden layer: [<eps, lam>, <eps, eps>] (PC: [<eps, eps>]); the fused kernels return float64 sums.
    hidden = torch.zeros(steps + 1, model.depth - 1, 1, reductions, dtype=x.dtype if kernels is None else torch.float64, device=x.device)
    out = x.new_empty(steps + 1)
    if kernels is not None:
        kernels.run_steps(x.contiguous(), model.w_in.detach(), state.w_hidden, state.w_hidden_t, state.w_out, y.contiguous(), state.P, state.A, state.E, state.lam,
                          state.eps_out, hidden, out, alphas, SKEW, ACTIVATIONS[state.activation], model.s_in, model.s_h, model.s_out,
                          state.eta, state.rho)
    else:
        # Step 0 is the feedforward start: every hidden eps is 0, so hidden[0] stays 0.
        torch.dot(state.eps_out.view(-1), state.eps_out.view(-1), out=out[0])
        for step, alpha in enumerate(alphas, start=1):
            state.activity_step()
            state.errors(hidden[step], out[step], alpha)
    per_layer = state.layer_energies(hidden, out)
    raise_if_not_finite(per_layer, algo, label)
    weight_grads = state.weight_gradients(x)
    lam = state.lam if state.lam is not None else torch.zeros_like(state.Z)
    return InferenceResult(
        weight_grads=weight_grads,
        bias_grads=[None] * model.depth,
        z=list(state.Z.unbind(0)),
        lam=list(lam.unbind(0)),
        energies=per_layer.sum(dim=1),
        layer_energies=per_layer,
        eta=state.eta,
    )
