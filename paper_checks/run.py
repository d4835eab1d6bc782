"""Run claim checks and write their verdicts: the engine behind ``pcalm check``."""

from __future__ import annotations

import time
import traceback

from paper_checks.registry import CHECK_MODULES, get_check, get_input_check
from paper_checks.verdict import CheckContext, Verdict
from pcalm.runtime.threads import ThreadChoice, choose_threads, run_threads

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
    torch threads (C4's grid cells choose theirs per cell).

    Bad input (an unknown claim, a check's own settings that its ``check_inputs`` refuses) raises
    ValueError before any check runs. A check that raises once running does not stop the others:
    its verdict is ``error``, with the message (and the traceback in its evidence)."""
    selected = list(dict.fromkeys(claims or CHECK_MODULES))
    checks = [(claim, get_check(claim)) for claim in selected]  # unknown ids fail before any work
    for claim in selected:
        get_input_check(claim)(ctx)
    threads = check_threads(ctx).threads
    verdicts = []
    for claim, check in checks:
        progress(f"[{claim}] running ({ctx.tier} tier, method {ctx.method}, {threads} torch thread{'s' * (threads > 1)}) ...")
        start = time.perf_counter()
        try:
            with run_threads(threads):
                verdict = check(ctx)
        except Exception as error:  # noqa: BLE001 - recorded as the claim's verdict, never hidden
            verdict = Verdict(claim, f"{claim}: the check raised", [], {"traceback": traceback.format_exc()}, error=f"{type(error).__name__}: {error}")
            progress(f"[{claim}] error: {verdict.error}")
        verdict.seconds = time.perf_counter() - start
        progress(f"[{claim}] {verdict.verdict} ({verdict.seconds:.1f} s)")
        verdicts.append(verdict)
    return verdicts
