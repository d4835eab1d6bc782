"""Algorithm configurations: BP, PC and PC-ALM (DESIGN sections 2-3), validated on construction.

``steps`` is the budget T (``None`` means 2L, L the model's depth), ``inner_steps`` is k.
``eta`` is the activity step size, or ``"auto"`` for the paper's rule eta = 1/lambda_max of
the activity Hessian at the feedforward start (see :mod:`pcalm.engine.step_size`).
PC is PC-ALM with lam frozen at 0 (alpha = 0), rho = 1 and k = 1: :meth:`PC.as_pcalm`.
Which activity steps end with a dual step is :meth:`PCALM.dual_alphas`, the one place that
says so; :func:`pcalm.engine.schedule.resolve` makes a config concrete for one model and batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Union

Eta = Union[float, Literal["auto"]]
TIMINGS = ("pre", "post")


def _check_eta(eta: Eta) -> None:
    if eta == "auto":
        return
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta) or eta <= 0:
        raise ValueError(f"eta: must be a positive finite number or 'auto', got {eta!r}")


def _check_count(name: str, value: int | None, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: must be an integer >= 1{' or None' if allow_none else ''}, got {value!r}")


def _check_nonnegative(name: str, value: float, strict: bool) -> None:
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    if bad or value < 0 or (strict and value == 0):
        bound = "> 0" if strict else ">= 0"
        raise ValueError(f"{name}: must be a finite number {bound}, got {value!r}")


@dataclass(frozen=True)
class BP:
    """Backpropagation: the gradients of the batch-mean loss l = 1/(2B) ||y - y_hat||^2.

    fast: None (default) runs a residual MLP's BP on the stacked fast path (forward and backward
    written out, :mod:`pcalm.engine.stacked.bp`; autograd's numbers to rounding) and any other
    model by autograd; False always by autograd, the independent reference every comparison of
    a method's gradient with BP's uses; True insists on the fast path (ValueError where it does
    not apply).
    """

    fast: bool | None = None
    name = "bp"

    def __post_init__(self) -> None:
        if self.fast is not None and not isinstance(self.fast, bool):
            raise ValueError(f"fast: must be True, False or None, got {self.fast!r}")


@dataclass(frozen=True)
class PCALM:
    """PC-ALM's canonical schedule (DESIGN section 3).

    timing: "pre" takes the weight gradient at (z, lam) after the final activity steps;
    "post" at (z, lam + alpha * eps(z)).
    """

    eta: Eta
    alpha: float = 1.0
    rho: float = 1.0
    steps: int | None = None
    inner_steps: int = 1
    timing: str = "pre"
    name = "pc-alm"

    def __post_init__(self) -> None:
        _check_eta(self.eta)
        _check_nonnegative("alpha", self.alpha, strict=False)
        _check_nonnegative("rho", self.rho, strict=True)
        _check_count("steps", self.steps, allow_none=True)
        _check_count("inner_steps", self.inner_steps, allow_none=False)
        if self.timing not in TIMINGS:
            raise ValueError(f"timing: must be one of {TIMINGS}, got {self.timing!r}")

    def budget(self, depth: int) -> int:
        """T: ``steps``, or 2L when it is None."""
        return 2 * depth if self.steps is None else self.steps

    def as_pcalm(self) -> PCALM:
        """PC-ALM is its own PC-ALM form (see :meth:`PC.as_pcalm`)."""
        return self

    def dual_alphas(self, depth: int) -> list[float]:
        """The schedule as data: the dual step after each activity step (DESIGN section 3).

        T rounds of k activity steps; the last step of each round but the final one is followed
        by the dual step lam_l <- lam_l + alpha eps_l(z), and so is the final round's under
        ``timing="post"``, whose weight gradient is taken at lam + alpha eps(z).

        Arguments:
            depth: L, the model's number of weight layers (T = ``steps`` or 2L).

        Returns:
            T k numbers; entry s is the alpha of the dual step after activity step s + 1, or 0
            where none follows (every entry is 0 for PC, alpha = 0).
        """
        budget, k = self.budget(depth), self.inner_steps
        return [
            float(self.alpha) if inner == k - 1 and (round_ < budget - 1 or self.timing == "post") else 0.0
            for round_ in range(budget)
            for inner in range(k)
        ]


@dataclass(frozen=True)
class PC:
    """Standard predictive coding (DESIGN section 2): T activity steps on F, rho = 1, lam = 0."""

    eta: Eta
    steps: int | None = None
    name = "pc"

    def __post_init__(self) -> None:
        _check_eta(self.eta)
        _check_count("steps", self.steps, allow_none=True)

    def as_pcalm(self) -> PCALM:
        """PC as the special case of PC-ALM: alpha = 0 (lam stays 0), rho = 1, k = 1."""
        return PCALM(eta=self.eta, alpha=0.0, rho=1.0, steps=self.steps, inner_steps=1, timing="pre")


Algorithm = Union[BP, PC, PCALM]
