"""Run claim checks and write their verdicts: the engine behind ``pcalm check``."""

from __future__ import annotations

import time

from paper_checks.registry import CHECK_MODULES, get_check
from paper_checks.verdict import CheckContext, Verdict
from pcalm.threads import ThreadChoice, choose_threads, run_threads

# The widest net and largest batch that the checks other than C4 run through torch (C5's full
# tier: width 32, batch 64; C7: width 32, batch 16; C1, C2, C8 are narrower): the thread rule's
# input for those checks. C4's grid cells choose their own threads (pcalm.train).
OTHER_CHECKS_WIDTH, OTHER_CHECKS_BATCH = 32, 64


def check_threads(ctx: CheckContext) -> ThreadChoice:
    """The torch threads of a check's own work: ``ctx.threads``, else the rule for the checks' largest net."""
    return choose_threads(OTHER_CHECKS_WIDTH, OTHER_CHECKS_BATCH, ctx.threads)


def run_checks(claims: list[str] | None, ctx: CheckContext, progress=print) -> list[Verdict]:
    """Run the checks of ``claims`` (default: all, in order; a claim named twice runs once, at its
    first place) under ``ctx``, reporting each verdict. Each check runs with :func:`check_threads`
    torch threads (C4's grid cells choose theirs per cell)."""
    selected = list(dict.fromkeys(claims or CHECK_MODULES))
    checks = [(claim, get_check(claim)) for claim in selected]  # unknown ids fail before any work
    threads = check_threads(ctx).threads
    verdicts = []
    for claim, check in checks:
        progress(f"[{claim}] running ({ctx.tier} tier, method {ctx.method}, {threads} torch thread{'s' * (threads > 1)}) ...")
        start = time.perf_counter()
        with run_threads(threads):
            verdict = check(ctx)
        verdict.seconds = time.perf_counter() - start
        progress(f"[{claim}] {verdict.verdict} ({verdict.seconds:.1f} s)")
        verdicts.append(verdict)
    return verdicts
