"""Writing the verdicts: ``results.json`` (machine-readable) and ``report.md`` (figures embedded)."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy
import scipy
import sympy
import torch

from paper_checks.verdict import CheckContext, Verdict


def environment() -> dict[str, Any]:
    """Versions and machine, recorded beside every result."""
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "sympy": sympy.__version__,
        "machine": platform.platform(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def write_results(verdicts: list[Verdict], ctx: CheckContext) -> tuple[Path, Path]:
    """Write ``results.json`` and ``report.md`` into ``ctx.out``; return their paths."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    meta = {"tier": ctx.tier, "method": ctx.method, "seed": ctx.seed, "environment": environment()}
    results = ctx.out / "results.json"
    results.write_text(json.dumps({**meta, "all_hold": all(v.holds for v in verdicts), "verdicts": [v.to_dict() for v in verdicts]}, indent=2))
    report = ctx.out / "report.md"
    report.write_text(_markdown(verdicts, ctx, meta))
    return results, report


def verdict_table(verdicts: list[Verdict]) -> str:
    """A plain-text table: claim, verdict, seconds, title."""
    lines = [f"{'claim':6s} {'verdict':8s} {'seconds':>8s}  title"]
    lines += [f"{v.claim:6s} {v.verdict:8s} {v.seconds:8.1f}  {v.title}" for v in verdicts]
    return "\n".join(lines)


def _markdown(verdicts: list[Verdict], ctx: CheckContext, meta: dict[str, Any]) -> str:
    parts = [
        "# PC-ALM claims: verdicts",
        "",
        f"Tier `{ctx.tier}`, method under test `{ctx.method}`, seed {ctx.seed}.",
        "",
        "| claim | verdict | title | seconds |",
        "|---|---|---|---|",
    ]
    parts += [f"| {v.claim} | **{v.verdict}** | {v.title} | {v.seconds:.1f} |" for v in verdicts]
    for v in verdicts:
        parts += ["", f"## {v.claim}: {v.title} - {v.verdict}", "", "| criterion | measured | threshold | passed | why this threshold |", "|---|---|---|---|---|"]
        parts += [f"| {c.name} | {c.measured:.6g} | {c.op} {c.threshold:.6g} | {'yes' if c.passed else 'NO'} | {c.reason} |" for c in v.criteria]
        parts += ["", "Evidence:", "", "```json", json.dumps(v.evidence, indent=1, default=str)[:6000], "```"]
        for figure in v.figures:
            parts += ["", f"![{Path(figure).name}]({Path(figure).relative_to(ctx.out).as_posix() if Path(figure).is_relative_to(ctx.out) else figure})"]
    parts += ["", "## Environment", "", "```json", json.dumps(meta["environment"], indent=1), "```", ""]
    return "\n".join(parts)
