"""The one energy of the engine, L_rho (DESIGN section 3; PC: lam = 0, rho = 1), and the local
rules that move down its gradient, written out beside it (tests/pcalm/engine/test_local_updates.py checks
them against autograd of L_rho).

    L_rho = 1/B ( 1/2 ||eps_L||^2 + sum_l <lam_l, eps_l> + rho/2 ||eps_l||^2 )

with every norm and inner product summed over all non-batch dimensions (vectors or feature maps).

Every function reads, for layer l, only layers l-1, l and l+1.
"""

from __future__ import annotations

import torch

from pcalm.models.base import LayeredModel

Tensor = torch.Tensor


def prediction_errors(model: LayeredModel, x: Tensor, y: Tensor, z: list[Tensor]) -> list[Tensor]:
    """Constraint violations eps_l = z_l - mu_l(z_{l-1}) (hidden) and eps_L = y - mu_L(z_{L-1})
    (DESIGN section 1): one prediction pass. Layer l's error reads z_{l-1} and z_l only.

    Arguments:
        model: the network (its ``predict``); x: (B, ...) the clamped input z_0; y: (B, ...) the
            target; z: the hidden activities [z_1..z_{L-1}].

    Returns:
        [eps_1..eps_L].
    """
    below = [x, *z]
    eps = [z_l - model.predict(l, below[l - 1]) for l, z_l in enumerate(z, start=1)]
    eps.append(y - model.predict(model.depth, below[-1]))
    return eps


def effective_errors(eps: list[Tensor], lam: list[Tensor], rho: float) -> list[Tensor]:
    """e_l = lam_l + rho eps_l (hidden), e_L = eps_L (DESIGN section 3): dL_rho/dmu_l times -B.

    Arguments:
        eps: [eps_1..eps_L]; lam: [lam_1..lam_{L-1}]; rho: the penalty.

    Returns:
        [e_1..e_L].
    """
    return [lam_l + rho * eps_l for lam_l, eps_l in zip(lam, eps)] + [eps[-1]]


def activity_step(model: LayeredModel, z: list[Tensor], e: list[Tensor], eta: float) -> list[Tensor]:
    """One per-sample activity step on every hidden layer at once:
    z_l <- z_l - eta * (e_l - J_{l+1}^T e_{l+1})  (DESIGN section 3; PC: e = eps), i.e.
    z_l <- z_l - eta B dL_rho/dz_l.

    Layer l reads its own error e_l and the error e_{l+1} of the layer above.

    Arguments:
        model: the network (its ``vjp``); z: [z_1..z_{L-1}]; e: [e_1..e_L]; eta: the step size.

    Returns:
        The new [z_1..z_{L-1}].
    """
    return [z_l - eta * (e[l - 1] - model.vjp(l + 1, z_l, e[l])) for l, z_l in enumerate(z, start=1)]


def dual_step(lam: list[Tensor], eps: list[Tensor], alpha: float) -> list[Tensor]:
    """Dual ascent lam_l <- lam_l + alpha * eps_l(z) on every hidden layer (DESIGN section 3).

    Arguments:
        lam: [lam_1..lam_{L-1}]; eps: [eps_1..eps_L] (the read-out's is not used); alpha: the step.

    Returns:
        The new [lam_1..lam_{L-1}].
    """
    return [lam_l + alpha * eps_l for lam_l, eps_l in zip(lam, eps)]


def layer_energies(eps: list[Tensor], lam: list[Tensor], rho: float) -> Tensor:
    """Per-layer terms of L_rho = 1/B (1/2 ||eps_L||^2 + sum_l <lam_l, eps_l> + rho/2 ||eps_l||^2).

    Arguments:
        eps: [eps_1..eps_L]; lam: [lam_1..lam_{L-1}]; rho: the penalty.

    Returns:
        A (L,) tensor: (<lam_l, eps_l> + rho/2 ||eps_l||^2)/B for l < L, ||eps_L||^2/(2B) last.
    """
    batch = eps[-1].shape[0]
    hidden = [((lam_l * eps_l).sum() + 0.5 * rho * (eps_l * eps_l).sum()) / batch for lam_l, eps_l in zip(lam, eps)]
    return torch.stack(hidden + [0.5 * (eps[-1] * eps[-1]).sum() / batch])


def weight_gradients(model: LayeredModel, x: Tensor, z: list[Tensor], e: list[Tensor]) -> list[list[Tensor]]:
    """dL_rho/dtheta_l at (z, lam), from layer l's effective error e_l and its input z_{l-1} alone:
    the gradient of -1/B <e_l, mu_l(z_{l-1})> in layer l's parameters (``model.param_grads``).

    Arguments:
        model: the network; x: (B, ...) the input; z: [z_1..z_{L-1}]; e: [e_1..e_L].

    Returns:
        Per layer, the gradients aligned with ``model.layer_parameters(l)``.
    """
    below = [x, *z]
    return [model.param_grads(l, below[l - 1], e[l - 1]) for l in range(1, model.depth + 1)]
