"""The one energy of the package: the augmented Lagrangian L_rho (DESIGN section 3),
with the local update rules written beside it.

PC's energy F (DESIGN section 2) is ``lagrangian`` with ``lam = 0`` and ``rho = 1``.

Conventions (DESIGN section 1): weights ``[W_1..W_L]``, ``W_l`` of shape (n_l, n_{l-1});
batch-first ``x`` (B, n_0), ``y`` (B, n_L); hidden activities ``z = [z_1..z_{L-1}]`` and
multipliers ``lam`` (same shapes); predictions ``mu_1 = x W_1^T``,
``mu_l = phi(z_{l-1}) W_l^T`` (l >= 2), no biases. The energy is a batch mean; the
activity and multiplier rules are *per sample* (B times the gradient of the batch mean);
the weight rule is the gradient of the batch mean. ``tests/numerics`` checks every rule
against finite differences of ``lagrangian``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from numerics.activations import activation

Array = np.ndarray


def feedforward(weights: Sequence[Array], x: Array, activation_name: str = "linear") -> list[Array]:
    """Forward pass ``[h_1..h_L]`` with ``h_1 = x W_1^T``, ``h_l = phi(h_{l-1}) W_l^T``
    (DESIGN section 1); the hidden part ``h_1..h_{L-1}`` makes every hidden eps_l zero."""
    phi, _ = activation(activation_name)
    out = [x @ weights[0].T]
    for w in weights[1:]:
        out.append(phi(out[-1]) @ w.T)
    return out


def _inputs(x: Array, z: Sequence[Array], phi) -> list[Array]:
    """The input each layer l = 1..L sees: ``x`` for layer 1, ``phi(z_{l-1})`` above."""
    return [x] + [phi(zl) for zl in z]


def errors(
    weights: Sequence[Array], x: Array, z: Sequence[Array], y: Array, activation_name: str = "linear"
) -> list[Array]:
    """``[eps_1..eps_L]``: ``eps_l = z_l - mu_l`` for hidden l, ``eps_L = y - mu_L`` (DESIGN section 1)."""
    phi, _ = activation(activation_name)
    upper = list(z) + [y]
    return [u - a @ w.T for u, a, w in zip(upper, _inputs(x, z, phi), weights)]


def effective_errors(eps: Sequence[Array], lam: Sequence[Array], rho: float) -> list[Array]:
    """``e_l = lam_l + rho * eps_l`` for hidden l, ``e_L = eps_L`` (DESIGN section 3)."""
    return [m + rho * ep for m, ep in zip(lam, eps[:-1])] + [eps[-1]]


def lagrangian(
    weights: Sequence[Array],
    x: Array,
    z: Sequence[Array],
    lam: Sequence[Array],
    y: Array,
    rho: float = 1.0,
    activation_name: str = "linear",
) -> float:
    """Batch-mean augmented Lagrangian (DESIGN section 3)::

        L_rho = 1/B ( 1/2 ||eps_L||^2 + sum_{l<L} <lam_l, eps_l> + rho/2 ||eps_l||^2 )

    With ``lam = 0`` and ``rho = 1`` this is PC's energy F (DESIGN section 2).
    Sums use ``a * a`` (not ``|a|^2``) so the function stays analytic for complex steps.
    """
    eps = errors(weights, x, z, y, activation_name)
    total = 0.5 * np.sum(eps[-1] * eps[-1])
    for m, ep in zip(lam, eps[:-1]):
        total = total + np.sum(m * ep) + 0.5 * rho * np.sum(ep * ep)
    return total / x.shape[0]


def activity_grads(
    weights: Sequence[Array],
    x: Array,
    z: Sequence[Array],
    lam: Sequence[Array],
    y: Array,
    rho: float = 1.0,
    activation_name: str = "linear",
) -> list[Array]:
    """Per-sample ``dL_rho/dz_l = e_l - J_{l+1}^T e_{l+1}`` for hidden l (DESIGN section 3);
    row form ``e_l - (e_{l+1} W_{l+1}) * phi'(z_l)``. Equals B times the batch-mean gradient."""
    _, dphi = activation(activation_name)
    e = effective_errors(errors(weights, x, z, y, activation_name), lam, rho)
    return [e[l] - (e[l + 1] @ weights[l + 1]) * dphi(z[l]) for l in range(len(z))]


def multiplier_grads(
    weights: Sequence[Array], x: Array, z: Sequence[Array], y: Array, activation_name: str = "linear"
) -> list[Array]:
    """Per-sample ``dL_rho/dlam_l = eps_l`` for hidden l: the dual-ascent direction (DESIGN section 3)."""
    return errors(weights, x, z, y, activation_name)[:-1]


def weight_grads(
    weights: Sequence[Array],
    x: Array,
    z: Sequence[Array],
    lam: Sequence[Array],
    y: Array,
    rho: float = 1.0,
    activation_name: str = "linear",
) -> list[Array]:
    """Batch-mean ``dL_rho/dW_l = -(1/B) e_l^T a_{l-1}`` with ``a_0 = x``, ``a_{l-1} = phi(z_{l-1})``
    (DESIGN section 3; the local outer-product rule, same shape as ``W_l``)."""
    phi, _ = activation(activation_name)
    e = effective_errors(errors(weights, x, z, y, activation_name), lam, rho)
    return [-(el.T @ a) / x.shape[0] for el, a in zip(e, _inputs(x, z, phi))]
