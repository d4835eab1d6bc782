"""A model built from any stack of torch modules (DESIGN section 1, claim C9): child l is layer
l's prediction,

    mu_l(z_{l-1}) = f_l(z_{l-1})               (a plain child)
    mu_l(z_{l-1}) = z_{l-1} + f_l(z_{l-1})     (a residual child, where the shapes match)

with f_l the child module (Linear, Conv2d, pooling, Flatten, an activation inside it, ...), z_0
= x clamped and the activity z_l of the shape of the child's output. A layer's parameters are its
child's parameters, whatever they are. The engine's three per-layer operations come from
autograd of the child alone: ``vjp`` is the child's input gradient at e (torch.autograd.grad),
``param_grads`` its parameter gradient at -e/B; both read layer l and z_{l-1} only.

What is refused (ValueError naming the layer): a child whose output does not fit the next child,
a residual child whose output shape differs from its input's, a child that mixes the samples of a
batch (BatchNorm in training mode: its statistics are the batch's, so one sample's prediction
depends on the others and the per-sample energy is not defined; Dropout in training mode: a
random prediction has no fixed point; both are checked by type, and every child is probed once
per input shape for any other mixing), parameters shared between layers (a layer's parameters
would not be its own), and a stack with no parameters at all. A parameter-free child is allowed:
its layer has an activity and an error but nothing to train (its ``param_grads`` is empty).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from pcalm.models.base import LayeredModel

Tensor = torch.Tensor
LOCALITY_RTOL = 1e-4  # a child's prediction of one sample, alone or in a batch of two: float32 roundoff of different kernels


class Scale(nn.Module):
    """Multiplies its input by a fixed ``factor`` (a depth scaling such as s_h; no parameter)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = float(factor)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"


def _mixing_modules(child: nn.Module) -> str | None:
    """The name of a module in ``child`` that mixes samples or draws at random in its current mode, if any."""
    for module in child.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and (module.training or module.running_mean is None):
            return f"{type(module).__name__} in training mode normalises with the batch's statistics, so one sample's prediction depends on the others; call .eval() on it (running statistics) or use a per-sample norm (LayerNorm, GroupNorm)"
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.training and module.p > 0:
            return f"{type(module).__name__} in training mode makes the prediction random, so the energy has no fixed point; call .eval() on it"
    return None


class Layered(LayeredModel):
    """PC and PC-ALM on any stack of torch modules.

    Arguments:
        modules: a ``torch.nn.Sequential`` or a list of modules, child l being layer l.
        residual: True (every layer), False, or one flag per layer: mu_l = z_{l-1} + f_l(z_{l-1}).
        input_shape: the per-sample shape of x; when given, the shapes are checked here (else at
            the first batch).
    """

    def __init__(self, modules: nn.Sequential | Iterable[nn.Module], residual: bool | Sequence[bool] = False, input_shape: Sequence[int] | None = None) -> None:
        super().__init__()
        children = list(modules.children()) if isinstance(modules, nn.Sequential) else list(modules)
        if not children:
            raise ValueError("modules: need at least one layer")
        for l, child in enumerate(children, start=1):
            if not isinstance(child, nn.Module):
                raise ValueError(f"layer {l}: expected a torch.nn.Module, got {type(child).__name__}")
        flags = [bool(residual)] * len(children) if isinstance(residual, bool) else [bool(r) for r in residual]
        if len(flags) != len(children):
            raise ValueError(f"residual: need one flag per layer ({len(children)}), got {len(flags)}")
        self.layers = nn.ModuleList(children)
        self.residual = tuple(flags)
        owner: dict[int, int] = {}
        for l, child in enumerate(children, start=1):
            for p in child.parameters():
                if id(p) in owner:
                    raise ValueError(f"layer {l}: shares a parameter with layer {owner[id(p)]}; a layer's parameters must be its own")
                owner[id(p)] = l
        if not owner:
            raise ValueError("modules: no layer has parameters, so there is nothing to train")
        self._shapes: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
        self.input_shape = None if input_shape is None else tuple(int(n) for n in input_shape)
        self.check_locality()
        if self.input_shape is not None:
            self.shapes(self.input_shape)

    @property
    def depth(self) -> int:
        """L, the number of children."""
        return len(self.layers)

    def layer_parameters(self, l: int) -> list[Tensor]:
        """Child l's parameters, in ``child.parameters()`` order."""
        return list(self.layers[l - 1].parameters())

    def predict(self, l: int, z_prev: Tensor) -> Tensor:
        """mu_l = f_l(z_{l-1}), plus z_{l-1} for a residual layer."""
        out = self.layers[l - 1](z_prev)
        return z_prev + out if self.residual[l - 1] else out

    def vjp(self, l: int, z_prev: Tensor, e: Tensor) -> Tensor:
        """e J_l: the child's input gradient at e by autograd (plus e for a residual layer)."""
        with torch.enable_grad():
            z = z_prev.detach().requires_grad_(True)
            (back,) = torch.autograd.grad(self.layers[l - 1](z), z, e, allow_unused=True)
        back = torch.zeros_like(z_prev) if back is None else back
        return e + back if self.residual[l - 1] else back

    def param_grads(self, l: int, z_prev: Tensor, e: Tensor) -> list[Tensor]:
        """Gradient of -1/B <e, mu_l(z_{l-1})> in each of child l's parameters (autograd at -e/B)."""
        params = self.layer_parameters(l)
        if not params:
            return []
        with torch.enable_grad():
            grads = torch.autograd.grad(self.layers[l - 1](z_prev.detach()), params, -e / e.shape[0], allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]

    def split_parameter_grads(self, grads: list[Tensor]) -> list[list[Tensor]]:
        """``self.parameters()`` holds the children's parameters child after child."""
        per_layer, start = [], 0
        for l in range(1, self.depth + 1):
            count = len(self.layer_parameters(l))
            per_layer.append(list(grads[start: start + count]))
            start += count
        return per_layer

    def assign_grads(self, grads: list[list[Tensor]]) -> None:
        for l, layer in enumerate(grads, start=1):
            for p, g in zip(self.layer_parameters(l), layer):
                p.grad = g.detach().clone()

    def check_locality(self) -> None:
        """ValueError naming the first layer whose child mixes samples or is random in its current mode."""
        for l, child in enumerate(self.layers, start=1):
            reason = _mixing_modules(child)
            if reason is not None:
                raise ValueError(f"layer {l}: {reason}")

    def shapes(self, input_shape: Sequence[int]) -> list[tuple[int, ...]]:
        """The per-sample shapes [z_1..z_L] for inputs of per-sample shape ``input_shape``: one
        probe pass on a batch of two, refusing (ValueError naming the layer) a child that does not
        take its input, changes the batch size, breaks a residual's shape or mixes the samples."""
        key = tuple(int(n) for n in input_shape)
        if key in self._shapes:
            return self._shapes[key]
        generator = torch.Generator().manual_seed(0)
        z = torch.randn(2, *key, generator=generator, dtype=torch.float64).to(self.dtype).to(self.device)
        shapes = []
        with torch.no_grad():
            for l, child in enumerate(self.layers, start=1):
                below = f"the output of layer {l - 1}" if l > 1 else "the input x"
                try:
                    out = child(z)
                    alone = child(z[:1])
                except (RuntimeError, ValueError, TypeError, IndexError) as error:
                    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                    raise ValueError(f"layer {l} ({type(child).__name__}): its input, {below} of per-sample shape {tuple(z.shape[1:])}, does not fit it: {message}") from None
                if not isinstance(out, Tensor) or out.dim() < 1 or out.shape[0] != 2:
                    raise ValueError(f"layer {l} ({type(child).__name__}): must keep the batch dimension first (a batch of 2 gave {tuple(getattr(out, 'shape', ()))})")
                if self.residual[l - 1] and out.shape != z.shape:
                    raise ValueError(f"layer {l}: residual needs the child's output shape {tuple(out.shape[1:])} to equal its input's {tuple(z.shape[1:])}")
                scale = float(out[:1].abs().max()) if out.numel() else 0.0
                if not torch.allclose(out[:1], alone, rtol=LOCALITY_RTOL, atol=LOCALITY_RTOL * scale):
                    raise ValueError(f"layer {l} ({type(child).__name__}): mixes the samples of a batch (a sample's output alone differs from its output beside another), so the per-sample energy is not defined")
                z = z + out if self.residual[l - 1] else out
                shapes.append(tuple(z.shape[1:]))
        self._shapes[key] = shapes
        return shapes

    def check_batch(self, x: Tensor, y: Tensor) -> None:
        """x must be (B, *input_shape) where one was given, fit every child, and y must be (B, *shape of z_L)."""
        self.check_locality()
        if x.dim() < 1 or (self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape):
            expected = "(batch, ...)" if self.input_shape is None else f"(batch, {', '.join(map(str, self.input_shape))})"
            raise ValueError(f"x: expected shape {expected}, got {tuple(x.shape)}")
        out_shape = self.shapes(x.shape[1:])[-1]
        if tuple(y.shape[1:]) != out_shape or y.dim() != len(out_shape) + 1:
            raise ValueError(f"y: expected shape (batch, {', '.join(map(str, out_shape))}), the output of layer {self.depth}, got {tuple(y.shape)}")
