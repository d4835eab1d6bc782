"""The conv family of the command line and grids (claim C9): a residual CNN whose width is its
channel count C and whose depth is its number of layers L, as a :class:`pcalm.Layered`.

Flat inputs of n_0 = c_0 H W pixels are reshaped to (c_0, H, W) inside layer 1; every conv is
3x3 with padding 1 (same size), bias-free, weights N(0, 1) from ``seed``, with depth scalings in
the spirit of the residual MLP's (1/sqrt(fan-in) in, 1/sqrt(fan-in L) on each residual branch,
1/fan-in out), the fan-in of a 3x3 conv over c channels being 9c:

    mu_1 = s_in  conv_1(x)                         s_in  = 1/sqrt(9 c_0)
    mu_l = z_{l-1} + s_h conv_l(phi(z_{l-1}))      s_h   = 1/sqrt(9 C L),  l = 2..L-1
    mu_L = s_out  W_L flatten(phi(z_{L-1}))        s_out = 1/(C H W)

With N(0, 1) weights, s_in makes each entry of z_1 the size of the input's pixels, and each
residual branch adds a variance of about E[phi(z)^2]/L, so the feedforward activities stay O(1)
as L grows (tests/pcalm/models/test_conv.py checks it); s_out = 1/fan-in is the read-out's
mean-field scaling, as the residual MLP's 1/N.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from pcalm.models.activations import get_activation
from pcalm.models.layered import Layered, Scale

ACTIVATION_MODULES = {"linear": nn.Identity, "tanh": nn.Tanh, "relu": nn.ReLU}


def image_shape(input_dim: int) -> tuple[int, int, int]:
    """(1, s, s) for flat square grey images of s^2 pixels (digits: 8x8, MNIST: 28x28); ValueError otherwise."""
    side = math.isqrt(int(input_dim))
    if side * side != input_dim:
        raise ValueError(f"model: the conv model needs square grey images, but the data's {input_dim} input features are not a square number of pixels")
    return (1, side, side)


class ResidualCNN(Layered):
    """The residual CNN of the module docstring.

    Arguments:
        image: the per-sample image shape (c_0, H, W) of the flat inputs (``image_shape``).
        channels: C, the channels of every hidden layer (the family's width).
        depth: L >= 2 layers (conv_1, L-2 residual conv blocks, the linear read-out).
        output_dim: the read-out's outputs; activation: phi ("linear", "tanh", "relu").
        seed, dtype: the weights' generator seed and type.
    """

    def __init__(self, image: Sequence[int], channels: int, depth: int, output_dim: int, activation: str = "relu", seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        for name, value, least in (("channels", channels, 1), ("depth", depth, 2), ("output_dim", output_dim, 1)):
            if isinstance(value, bool) or int(value) != value or value < least:
                raise ValueError(f"{name}: must be an integer >= {least}, got {value!r}")
        c_in, height, width = (int(n) for n in image)
        act = ACTIVATION_MODULES[get_activation(activation).name]
        s_in, s_h, s_out = 1.0 / math.sqrt(9 * c_in), 1.0 / math.sqrt(9 * channels * depth), 1.0 / (channels * height * width)
        conv = lambda c: nn.Conv2d(c, channels, 3, padding=1, bias=False)  # noqa: E731
        children = [nn.Sequential(nn.Unflatten(1, (c_in, height, width)), conv(c_in), Scale(s_in))]
        children += [nn.Sequential(act(), conv(channels), Scale(s_h)) for _ in range(depth - 2)]
        children.append(nn.Sequential(act(), nn.Flatten(), nn.Linear(channels * height * width, output_dim, bias=False), Scale(s_out)))
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for child in children:
                for p in child.parameters():
                    p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64))
        super().__init__([child.to(dtype) for child in children], residual=[False] + [True] * (depth - 2) + [False], input_shape=(c_in * height * width,))
        self.activation = get_activation(activation)
        self.image, self.channels = (c_in, height, width), channels
        self.s_in, self.s_h, self.s_out = s_in, s_h, s_out
