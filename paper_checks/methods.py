"""The algorithm under test: PC-ALM, or PC when a check runs as a negative control."""

from __future__ import annotations

import pcalm
from paper_checks.verdict import CheckContext


PAPER_ALPHA = 1.0  # the dual step of the paper's defaults (rho = 1)


def method_under_test(ctx: CheckContext, eta: float, steps: int | None = None) -> pcalm.PC | pcalm.PCALM:
    """PCALM(eta, alpha=1, rho=1, steps) - the paper's defaults - or PC(eta, steps) under ``--algo pc``."""
    if ctx.method == "pc":
        return pcalm.PC(eta=eta, steps=steps)
    return pcalm.PCALM(eta=eta, alpha=PAPER_ALPHA, rho=1.0, steps=steps)


def dual_alpha(ctx: CheckContext) -> float:
    """The dual step alpha of the method under test, read from its PC-ALM form
    (:meth:`pcalm.PC.as_pcalm`: 0 for PC); eta plays no part in it."""
    return method_under_test(ctx, eta=1.0).as_pcalm().alpha
