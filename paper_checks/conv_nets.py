"""Random linear conv stacks for C9 (a), and each layer written as the dense matrix numerics' KKT
solve takes.

A stack is a :class:`pcalm.Layered` of bias-free linear children drawn from a seed: Conv2d at a
random stride and padding, AvgPool2d before a Conv2d inside one child, a residual 3x3 same-size
Conv2d where the channels allow it, and a read-out child that flattens (Flatten beside a Linear,
or a Conv2d then Flatten). Linear children make mu_l = M_l z_{l-1} with M_l a matrix, so the
stack is the linear net of DESIGN C1 with weights M_1..M_L.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from pcalm.models.layered import Layered

KINDS = ("conv", "pool-conv", "residual-conv")


def _seeded_modules(seed: int, build) -> list[nn.Module]:
    """Modules built under torch's global generator seeded with ``seed`` (restored after)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [m.to(torch.float64) for m in build()]


def random_linear_stack(seed: int, depth: int, input_shape: tuple[int, int, int] | None = None, output_dim: int | None = None) -> tuple[Layered, tuple[int, int, int], int]:
    """A random linear conv stack of ``depth`` layers (2..), float64, with torch's default
    initialisation drawn from ``seed``.

    Returns:
        (model, input shape (c, H, W), output width).
    """
    rng = np.random.default_rng(seed)
    c, h, w = input_shape or (int(rng.integers(1, 3)), int(rng.integers(5, 9)), int(rng.integers(5, 9)))
    n_out = output_dim or int(rng.integers(1, 4))
    specs, flags = [], []
    shape = (c, h, w)
    for index in range(depth - 1):
        c_in, h_in, w_in = shape
        # Layer 1 reshapes the flat x, so it is never residual.
        kinds = [k for k in KINDS if (k != "pool-conv" or min(h_in, w_in) >= 4) and (k != "residual-conv" or index > 0)]
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "residual-conv":
            specs.append(("conv", c_in, c_in, 3, 1, 1, False))
            flags.append(True)
            continue
        pool = kind == "pool-conv"
        h_eff, w_eff = (h_in // 2, w_in // 2) if pool else (h_in, w_in)
        kernel = int(rng.integers(1, min(3, h_eff, w_eff) + 1))
        stride = int(rng.integers(1, 3))
        padding = int(rng.integers(0, 2)) if kernel > 1 else 0
        c_out = int(rng.integers(1, 4))
        specs.append(("conv", c_in, c_out, kernel, stride, padding, pool))
        flags.append(False)
        shape = (c_out, (h_eff + 2 * padding - kernel) // stride + 1, (w_eff + 2 * padding - kernel) // stride + 1)
    readout_conv = bool(rng.integers(2))
    c_in, h_in, w_in = shape

    def build() -> list[nn.Module]:
        children = []
        for _, ci, co, k, s, p, pool in specs:
            conv = nn.Conv2d(ci, co, k, stride=s, padding=p, bias=False)
            children.append(nn.Sequential(nn.AvgPool2d(2), conv) if pool else conv)
        if readout_conv:
            children.append(nn.Sequential(nn.Conv2d(c_in, n_out, (h_in, w_in), bias=False), nn.Flatten()))
        else:
            children.append(nn.Sequential(nn.Flatten(), nn.Linear(c_in * h_in * w_in, n_out, bias=False)))
        return children

    children = _seeded_modules(seed, build)
    # Flatten the input in layer 1 too, so that x is a (B, n_0) batch like the data sets'.
    children[0] = nn.Sequential(nn.Unflatten(1, (c, h, w)), children[0])
    model = Layered(children, residual=flags + [False], input_shape=(c * h * w,))
    return model, (c, h, w), n_out


def layer_matrices(model: Layered, input_shape: tuple[int, ...]) -> list[np.ndarray]:
    """[M_1..M_L]: layer l's prediction of a linear stack as the (n_l, n_{l-1}) matrix with
    flatten(mu_l(z)) = M_l flatten(z), from the predictions of the unit basis (residual layers
    included: M_l = I + F_l)."""
    shapes = [tuple(input_shape)] + model.shapes(input_shape)
    matrices = []
    with torch.no_grad():
        for l in range(1, model.depth + 1):
            n_in = math.prod(shapes[l - 1])
            basis = torch.eye(n_in, dtype=model.dtype).reshape(n_in, *shapes[l - 1])
            matrices.append(model.predict(l, basis).reshape(n_in, -1).T.numpy().copy())
    return matrices


def pull_back(model: Layered, input_shape: tuple[int, ...], matrix_grads: list[np.ndarray]) -> list[list[torch.Tensor]]:
    """The parameter gradients of a linear stack from gradients G_l in its matrices M_l(theta_l):
    dL/dtheta_l = d <G_l, M_l(theta_l)> / dtheta_l (M_l is linear in theta_l, so this is exact)."""
    shapes = [tuple(input_shape)] + model.shapes(input_shape)
    grads = []
    for l in range(1, model.depth + 1):
        params = model.layer_parameters(l)
        if not params:
            grads.append([])
            continue
        n_in = math.prod(shapes[l - 1])
        basis = torch.eye(n_in, dtype=model.dtype).reshape(n_in, *shapes[l - 1])
        with torch.enable_grad():
            matrix = model.predict(l, basis).reshape(n_in, -1).T
            grads.append(list(torch.autograd.grad((torch.from_numpy(matrix_grads[l - 1]) * matrix).sum(), params)))
    return grads
