"""The claim checks, by claim id: each module's ``check(ctx) -> Verdict``."""

from __future__ import annotations

import importlib
from typing import Callable

from paper_checks.verdict import CheckContext, Verdict

CHECK_MODULES = {
    "C1": "paper_checks.c1_exact_bp",
    "C2": "paper_checks.c2_convergence",
    "C3": "paper_checks.c3_pc_not_bp",
    "C4": "paper_checks.c4_grid",
    "C5": "paper_checks.c5_credit",
    "C6": "paper_checks.c6_budget",
    "C7": "paper_checks.c7_budget_scaling",
    "C8": "paper_checks.c8_long_budget",
    "C9": "paper_checks.c9_conv",
}


def get_check(claim: str) -> Callable[[CheckContext], Verdict]:
    """The check function of ``claim`` (e.g. "C1"); ValueError for an unknown id."""
    if claim not in CHECK_MODULES:
        raise ValueError(f"only: unknown claim {claim!r}; choose from {', '.join(CHECK_MODULES)}")
    return importlib.import_module(CHECK_MODULES[claim]).check


def get_input_check(claim: str) -> Callable[[CheckContext], None]:
    """The module's ``check_inputs(ctx)``, which raises ValueError on settings it cannot run with
    (run before any check, so bad input is exit 2 with nothing computed), or a no-op."""
    return getattr(importlib.import_module(CHECK_MODULES[claim]), "check_inputs", lambda ctx: None)
