"""BP for the residual MLP on the stacked state, forward and backward written out (no autograd).

The loss is l = 1/(2B) |y - y_hat|^2 and BP's backward signals are delta_l = -B dl/dz_l, the
vector-Jacobian products of the model's layers (:meth:`pcalm.models.residual.ResidualMLP.vjp`)
taken from the top down:

    delta_{L-1} = s_out (e_out W_L) * phi'(z_{L-1}),   e_out = y - y_hat
    delta_l     = delta_{l+1} + s_h (delta_{l+1} W_{l+1}) * phi'(z_l)

and the weight gradient is dl/dW_l = -s_l/B delta_l^T a_{l-1}: the stacked formulas' weight
gradient (:func:`pcalm.models.residual_stacked.weight_gradients`) with the signals in place of
the effective errors, one batched matmul for all hidden blocks. The feedforward pass and the
signals run either as eager ops on preallocated (L-1, B, N) buffers (two per layer each way) or,
on the CPU, in the fused kernels' ``backprop_steps`` (``fused_steps.cpp``: each thread its rows,
every layer's matmuls and elementwise work in C++); which one is the machine's measured choice
(:mod:`pcalm.engine.stacked.choice`). Both give autograd's numbers to rounding
(``tests/pcalm/engine/test_stacked_bp.py``: 1e-12 in float64); autograd BP
(``BP(fast=False)``, :func:`pcalm.engine.inference.infer`) stays the independent reference.
"""

from __future__ import annotations

import torch

from pcalm.engine.result import InferenceResult, NonFiniteActivityError
from pcalm.engine.stacked import choice
from pcalm.engine.stacked.fused import ACTIVATIONS
from pcalm.engine.stacked.fused import kernels as fused_kernels
from pcalm.models import residual_stacked as formulas
from pcalm.models.residual import ResidualMLP

Tensor = torch.Tensor


def _forward_and_signals_eager(model: ResidualMLP, x: Tensor, y: Tensor, P: Tensor, A: Tensor, E: Tensor, eps_out: Tensor) -> None:
    """The feedforward pass into P = [mu_1; z_1; ...] and A = phi(Z), e_out = y - y_hat, and the
    signals delta into E, as in-place ops (per layer one matmul and one elementwise op each way)."""
    hidden, s_h = E.shape[0], model.s_h
    w_hidden, w_out = model.w_hidden.detach(), model.w_out.detach()
    Z = P[1:]
    torch.mm(x, model.w_in.detach().T, out=P[0]).mul_(model.s_in)
    P[1].copy_(P[0])
    act = model.activation.name
    for i in range(hidden):
        if i > 0:
            torch.addmm(Z[i - 1], A[i - 1], w_hidden[i - 1].T, alpha=s_h, out=Z[i])
        if act == "relu":
            torch.clamp_min(Z[i], 0.0, out=A[i])
        elif act == "tanh":
            torch.tanh(Z[i], out=A[i])
    torch.addmm(y, A[-1], w_out.T, alpha=-model.s_out, out=eps_out)
    if act == "linear":
        slope = None
    elif act == "relu":
        slope = torch.sign(A)  # phi' = 1 where z > 0, else 0
    else:
        slope = torch.addcmul(torch.ones((), dtype=A.dtype, device=A.device), A, A, value=-1.0)  # 1 - tanh(z)^2
    V = torch.empty_like(E[0])
    for i in range(hidden - 1, -1, -1):
        top = i == hidden - 1
        if top:
            torch.mm(eps_out, w_out, out=V)
            if slope is None:
                torch.mul(V, model.s_out, out=E[i])
            else:
                torch.mul(V, slope[i], out=E[i]).mul_(model.s_out)
        elif slope is None:
            torch.addmm(E[i + 1], E[i + 1], w_hidden[i], alpha=s_h, out=E[i])
        else:
            torch.mm(E[i + 1], w_hidden[i], out=V)
            torch.addcmul(E[i + 1], V, slope[i], value=s_h, out=E[i])


def time_one_run(fused: bool, depth: int, width: int, skew: int) -> float:
    """Seconds of one BP run on the class's representative shape (relu, batch BATCH, float32),
    ``fused`` or eager (``skew`` unused): the timer of :func:`pcalm.engine.stacked.choice.measure` for "bp"."""
    model, x, y = choice.representative(depth, width)
    return choice.seconds(lambda: backprop(model, x, y, fused=fused))


@torch.no_grad()
def backprop(model: ResidualMLP, x: Tensor, y: Tensor, fused: bool | None = None) -> InferenceResult:
    """BP's gradients of l = 1/(2B) |y - y_hat|^2 by the formulas of the module docstring.

    Arguments:
        model, x, y: the residual MLP and the batch.
        fused: None takes the machine's measured choice (:func:`pcalm.engine.stacked.choice.choose`);
            False the eager ops; True the fused kernels (RuntimeError where they are unavailable).

    Returns:
        The InferenceResult of autograd BP (:func:`pcalm.engine.inference.infer` with ``BP(fast=False)``):
        weight gradients, z the hidden activities, lam the signals delta_l = -B dl/dz_l, the loss
        as the one energy; ``way`` names the way taken ("fused" or "eager").
    """
    if fused is None:
        fused = choice.choose("bp", model.width, model.depth, x.device, time_one_run).fused
    kernels = fused_kernels(x.device) if fused else None
    if fused and kernels is None:
        raise RuntimeError(f"fused: the fused kernels are unavailable on {x.device} (see pcalm.engine.stacked.fused)")
    depth, batch, width = model.depth, x.shape[0], model.width
    P = x.new_empty(depth, batch, width)
    A = P[1:] if model.activation.name == "linear" else x.new_empty(depth - 1, batch, width)
    E = x.new_empty(depth - 1, batch, width)
    eps_out = x.new_empty(y.shape)
    if kernels is not None:
        tensors = {
            "x": x.contiguous(), "y": y.contiguous(), "w_in": model.w_in.detach(), "w_hidden": model.w_hidden.detach(),
            "w_out": model.w_out.detach(), "p": P, "a": A, "e": E, "eps_out": eps_out,
        }
        squares = kernels.backprop_steps(tensors, ACTIVATIONS[model.activation.name], model.s_in, model.s_h, model.s_out)
        loss = torch.tensor(0.5 * squares / batch, dtype=x.dtype, device=x.device)
    else:
        _forward_and_signals_eager(model, x, y, P, A, E, eps_out)
        loss = 0.5 * torch.dot(eps_out.view(-1), eps_out.view(-1)) / batch
    if not torch.isfinite(loss):
        raise NonFiniteActivityError(f"bp: the loss is not finite ({loss.item()}); check the weights and inputs")
    weight_grads = formulas.weight_gradients(model, x, E, A, eps_out)
    return InferenceResult(
        param_grads=[[g] for g in weight_grads],  # bias-free: each layer holds [W_l]
        z=list(P[1:].unbind(0)),
        lam=list(E.unbind(0)),
        energies=loss.reshape(1),
        layer_energies=torch.cat([torch.zeros(depth - 1, dtype=loss.dtype, device=loss.device), loss.reshape(1)]).reshape(1, -1),
        eta=None,
        way="fused" if kernels is not None else "eager",
    )
