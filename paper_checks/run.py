"""Run claim checks and write their verdicts: the engine behind ``pcalm check``."""

from __future__ import annotations

import time

from paper_checks.registry import CHECK_MODULES, get_check
from paper_checks.verdict import CheckContext, Verdict


def run_checks(claims: list[str] | None, ctx: CheckContext, progress=print) -> list[Verdict]:
    """Run the checks of ``claims`` (default: all, in order; a claim named twice runs once, at its
    first place) under ``ctx``, reporting each verdict."""
    selected = list(dict.fromkeys(claims or CHECK_MODULES))
    checks = [(claim, get_check(claim)) for claim in selected]  # unknown ids fail before any work
    verdicts = []
    for claim, check in checks:
        progress(f"[{claim}] running ({ctx.tier} tier, method {ctx.method}) ...")
        start = time.perf_counter()
        verdict = check(ctx)
        verdict.seconds = time.perf_counter() - start
        progress(f"[{claim}] {verdict.verdict} ({verdict.seconds:.1f} s)")
        verdicts.append(verdict)
    return verdicts
