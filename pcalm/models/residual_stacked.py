"""The residual MLP's formulas with all hidden layers stacked (DESIGN section 1), beside the
per-layer ones of :mod:`pcalm.models.residual`: the same mu_l, e J_l and weight gradient, written
for a state that holds every hidden layer in one (L-1, B, N) tensor, so that one step of all
layers is a handful of batched matmuls and in-place elementwise ops. The fast path
(:mod:`pcalm.engine.stacked`) holds the buffers and the loop; ``tests/pcalm/models/test_models.py`` compares these
formulas with the per-layer ones directly. The fused CPU run (``pcalm/engine/stacked/fused_steps.cpp``)
is the one deliberate second copy of them, in C++, checked against the reference loop.

Stacked state (index i holds hidden layer l = i + 1; N the width, B the batch):

    P    (L, B, N)    [mu_1; z_1; ...; z_{L-1}]  (mu_1 = s_in x W_1^T is fixed: x is clamped),
                      so that Z = P[1:] and ``P[1:] - P[:-1]`` is [z_1 - mu_1; z_2 - z_1; ...]
    A, D (L-1, B, N)  phi(z_l), phi'(z_l)          (linear: A is Z itself, no D)
    Eps  (L-1, B, N)  eps_l = z_l - mu_l(z_{l-1});  eps_out (B, n_L) = y - mu_L(z_{L-1})
    E    (L-1, B, N)  e_l = lam_l + rho eps_l
    V    (L-1, B, N)  the backward branch of layer l+1: e_{l+1} W_{l+1}, scaled to s_h

Every slice shifts by at most one layer: layer l's formulas read layers l-1, l, l+1 only. So
the step and the prediction pass can run on the top hidden layers alone, indices ``first`` and
up (the wavefront of :mod:`pcalm.engine.stacked.run`: below it every error is 0 and nothing changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pcalm.models.residual import ResidualMLP

Tensor = torch.Tensor


@dataclass(frozen=True)
class StackedWeights:
    """The weights of one run, detached: W_hidden (L-2, N, N), its transposes stored contiguously
    once (a matmul against them is faster than against a transposed view), W_L (n_L, N)."""

    w_hidden: Tensor
    w_hidden_t: Tensor
    w_out: Tensor

    @classmethod
    def of(cls, model: ResidualMLP) -> "StackedWeights":
        w_hidden = model.w_hidden.detach()
        return cls(w_hidden, w_hidden.transpose(1, 2).contiguous(), model.w_out.detach())


def activate(model: ResidualMLP, Z: Tensor, A: Tensor, D: Tensor | None, one: Tensor) -> None:
    """A = phi(Z), D = phi'(Z) in place (relu: the mask z > 0, as sign(relu(z)); tanh:
    1 - tanh(z)^2, with ``one`` the 1 as an addcmul operand); linear has neither (A is Z).

    Arguments:
        Z: (L-1, B, N) hidden activities; A, D: buffers of its shape (D None where not needed).
    """
    if model.activation.name == "relu":
        torch.clamp_min(Z, 0.0, out=A)
        if D is not None:
            torch.sign(A, out=D)
    elif model.activation.name == "tanh":
        torch.tanh(Z, out=A)
        if D is not None:
            torch.addcmul(one, A, A, value=-1.0, out=D)


def activity_step(
    model: ResidualMLP, weights: StackedWeights, Z: Tensor, E: Tensor, eps_out: Tensor, D: Tensor | None, V: Tensor, eta: float, first: int = 0
) -> None:
    """z_l <- z_l - eta (e_l - e_{l+1} J_{l+1}) on every hidden layer at once, in place (DESIGN
    section 3), with the residual MLP's e J_{l+1} = e_{l+1} + s_h (e_{l+1} W_{l+1}) * phi'(z_l)
    for hidden blocks and e_L J_L = s_out (e_L W_L) * phi'(z_{L-1}) for the read-out
    (:meth:`ResidualMLP.vjp`):

        V[:-1] = E[1:] @ W_hidden;  V[-1] = (s_out/s_h) e_out W_L
        Z += eta s_h V * D;  Z -= eta E;  Z[:-1] += eta E[1:]

    Arguments:
        Z, E: (L-1, B, N) activities (updated) and effective errors; eps_out: (B, n_L) the read-out
            error e_L; D: phi'(Z) (None for linear); V: a (L-1, B, N) scratch buffer.
        first: the lowest hidden index updated (0: all); the layers below are left as they are.
    """
    s_h = model.s_h
    Z, V, E_top = Z[first:], V[first:], E[first:]
    above = E[first + 1 :]  # e_{l+1} for the updated layers but the last
    torch.bmm(above, weights.w_hidden[first:], out=V[:-1])
    torch.addmm(V[-1], eps_out, weights.w_out, beta=0.0, alpha=model.s_out / s_h, out=V[-1])
    if D is None:  # linear
        Z.add_(V, alpha=eta * s_h)
    else:
        Z.addcmul_(V, D[first:], value=eta * s_h)
    Z.sub_(E_top, alpha=eta)
    Z[:-1].add_(above, alpha=eta)


def prediction_errors(
    model: ResidualMLP, weights: StackedWeights, P: Tensor, A: Tensor, y: Tensor, Eps: Tensor, eps_out: Tensor, first: int = 0
) -> None:
    """The prediction pass, eps_l = z_l - mu_l(z_{l-1}) for every hidden layer and
    eps_L = y - mu_L(z_{L-1}) (DESIGN section 1, :meth:`ResidualMLP.predict`), into Eps and eps_out:

        Eps = P[1:] - P[:-1];  Eps[1:] -= s_h A[:-1] @ W_hidden^T;  eps_out = y - s_out A[-1] @ W_L^T

    Arguments:
        P: (L, B, N) [mu_1; z_1; ...; z_{L-1}]; A: (L-1, B, N) phi(z); y: (B, n_L) the target.
        first: the lowest hidden index whose error is computed (0: all); Eps below it is left as it is.
    """
    torch.addmm(y, A[-1], weights.w_out.T, alpha=-model.s_out, out=eps_out)
    torch.sub(P[first + 1 :], P[first:-1], out=Eps[first:])
    lowest = max(first, 1)  # the lowest hidden index with a hidden block below it
    Eps[lowest:].baddbmm_(A[lowest - 1 : -1], weights.w_hidden_t[lowest - 1 :], alpha=-model.s_h)


def weight_gradients(model: ResidualMLP, x: Tensor, E: Tensor, A: Tensor, eps_out: Tensor) -> list[Tensor]:
    """dL_rho/dW_l = -s_l/B e_l^T a_{l-1} for all layers (:meth:`ResidualMLP.param_grads`), with
    a_0 = x and a_{l-1} = phi(z_{l-1}).

    Arguments:
        x: (B, n_0) the input; E: (L-1, B, N) effective errors; A: phi(z); eps_out: (B, n_L) e_L.

    Returns:
        [dL/dW_1, ..., dL/dW_L], aligned with ``model.weights()``.
    """
    batch = x.shape[0]
    grad_in = torch.mm(E[0].T, x).mul_(-model.s_in / batch)
    grad_hidden = torch.bmm(E[1:].transpose(1, 2), A[:-1]).mul_(-model.s_h / batch)
    grad_out = torch.mm(eps_out.T, A[-1]).mul_(-model.s_out / batch)
    return [grad_in, *grad_hidden.unbind(0), grad_out]
