"""Writing the verdicts: ``results.json`` (machine-readable) and ``report.md`` (figures embedded,
each with a one-line caption).

A run of some claims only (``pcalm check --only``) into a folder that already holds results of
the same tier, method and seed merges into them: the claims that ran replace their earlier
verdicts, the others are kept, and every verdict carries the time it ran (``ran_at``), so the
report says which claims ran when. Results of another tier, method or seed are replaced.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy
import scipy
import sympy
import torch

from paper_checks.registry import CHECK_MODULES
from paper_checks.verdict import CheckContext, Verdict

# One line per figure: what it shows, and what it would show were the claim false. Keyed by the
# figure's file name; C4's heatmaps are named heatmap_<activation>.png.
FIGURE_CAPTIONS = {
    "c2_convergence.png": "Distance of the engine's (z, lam) to the exact equilibrium (solid) against the rate rho(M)^t computed from the schedule's spectrum (dashed), for the example nets and the worst one (largest radius). Were C2 false, a solid line would level off or rise instead of falling along its dashed line.",
    "c3_pc_cosine_vs_depth.png": "Cosine of PC's exact equilibrium gradient to BP's against depth (mean and spread over seeds), PC-ALM's beside it. Were C3 false, PC's line would stay at 1 with PC-ALM's.",
    "heatmap_": "Test accuracy of BP, PC and PC-ALM per width and depth, then the differences BP - PC-ALM and BP - PC on one shared colour scale (red: BP ahead). Were C4 false, the BP - PC-ALM panel would show red cells as deep as BP - PC's, or BP - PC would stay white in the deep narrow corner.",
    "c4_verdict_": "BP - PC-ALM (left) and BP - PC (right) per width and depth, mean over the seeds in points, with each cell's one-sided 95% interval; on the left each cell's verdict against the 3-point margin (matches, behind or undecided), on the right PC's part in the deep narrow corner against 5 points (holds, fails or undecided); 'BP < 50%': BP does not learn there. Were C4 false, a cell on the left would read 'behind' (its whole interval above 3 points), or the deep narrow corner on the right would not read 'holds'.",
    "c5_credit_heatmaps.png": "Credit ||e_l(t)|| of every hidden layer over the budget T = 2L, as a fraction of its long-run value. Were C5 false, PC-ALM's front would stall near the output like PC's instead of running down the layers at a constant speed (a straight diagonal).",
    "c5_arrival_times.png": "Arrival time of half the credit against the distance k from the output (log-log), with each fitted line over the fit range 2 <= k <= L/2 (shaded) and reference slopes 1 (wave) and 2 (diffusion). Were C5 false, PC-ALM's points would follow slope 2 like PC's.",
    "c4_trained_cosine.png": "Per-layer cosine of each method's gradient at T = 2L to BP's, along training at N = L = 32 on digits (start, middle, end; PC-ALM solid, PC dashed), with PC-ALM's floor 0.5. Were C4's trained-net criterion false, PC-ALM's lines would fall below the floor in the lower layers as PC's do.",
    "c7_budget_099.png": "T* at cosine 0.9 (judged) and 0.99 (reported, not judged) against depth for each method (replicate 0), censored points drawn at the cap 64 L. The 0.99 points show that exact BP takes about L^2 steps although the front is ballistic. Were C7 false, PC-ALM's 0.9 points would climb like PC's.",
    "c5_gradient_ratios.png": "|grad W_l| / |BP grad W_l| per layer at T = 2L, with the thresholds 1/3 (PC-ALM's floor, every layer) and 0.1 (PC's ceiling, median of the lower half). Were C5 false, PC-ALM's line would drop below 1/3 in the lower layers as PC's does.",
    "c7_budget_scaling.png": "Budget T* at which each method's weight gradient first reaches cosine 0.9 to its own equilibrium gradient, against depth (log-log), every replicate's point, each pooled fit with its 95% bounds in the legend, and reference slopes 1 and 2. Were C7 false, PC-ALM's points would climb along slope 2 like PC's, or PC's would lie along slope 1.",
    "c8_distance.png": "Relative distance of the engine's (z, lam) to the saddle of L_rho over a long budget, per net, labelled with the spectral radius r of the schedule's Jacobian there; a run is read as approaching only where it comes within 1e-2 and shrinks. Were C8's prediction wrong, a net with r < 1 that came near would stall or move away, or one with r > 1 would settle.",
    "c8_cosine_to_bp.png": "Cosine of the engine's weight gradient to BP's over the long budget. Where r > 1 it peaks and then falls: accurate at a budget, not in a limit. Were C8 false, a net with r < 1 would not climb towards 1 (the saddle's gradient is BP's).",
    "c8_lam_norm.png": "Norm of the multipliers lam over the long budget; they settle where r < 1 and grow where r > 1. Were C8 false, they would grow on a net with r < 1 or settle on one with r > 1.",
    "c8_z_from_feedforward.png": "Distance of the activities z from the feedforward pass over the long budget (0 at the saddle, where every hidden eps is 0). Were C8 false, a net with r < 1 would not settle to the saddle's distance.",
    "c9_pc_cosine_vs_depth.png": "Cosine of PC's exact equilibrium gradient to BP's against depth on random linear conv stacks (mean and spread over seeds; PC-ALM's is 1 to 1e-9 on every stack, criteria (a)). Were C9's PC contrast false, the line would stay at 1.",
    "c9_heatmap_": "Residual CNN (relu): test accuracy of BP, PC and PC-ALM per channels and depth, then BP - PC-ALM and BP - PC (red: BP ahead). Were C9 false, the BP - PC-ALM panel would show red cells where BP learns.",
    "c8_eps_norm.png": "Norm of the hidden errors eps over the long budget (0 at the saddle). Were C8 false, it would not shrink towards 0 on a net with r < 1.",
}


def caption(figure: str) -> str:
    """The figure's one-line caption (empty when none is written for it)."""
    name = Path(figure).name
    return next((text for key, text in FIGURE_CAPTIONS.items() if name == key or (key.endswith("_") and name.startswith(key))), "")


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


def _earlier_verdicts(path: Path, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdicts in an existing ``results.json`` of the same tier, method and seed (else none)."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if any(earlier.get(key) != meta[key] for key in ("tier", "method", "seed")):
        return []
    return [v for v in earlier.get("verdicts", []) if isinstance(v, dict) and "claim" in v and "ran_at" in v]


def _claim_order(verdict: dict[str, Any]) -> tuple[int, str]:
    claims = list(CHECK_MODULES)
    return (claims.index(verdict["claim"]) if verdict["claim"] in claims else len(claims), verdict["claim"])


def write_results(verdicts: list[Verdict], ctx: CheckContext) -> tuple[Path, Path]:
    """Write ``results.json`` and ``report.md`` into ``ctx.out``, merged with the earlier verdicts of
    the same tier, method and seed found there (the claims of ``verdicts`` replace theirs); return
    the two paths."""
    ctx.out.mkdir(parents=True, exist_ok=True)
    ran_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta = {"tier": ctx.tier, "method": ctx.method, "seed": ctx.seed, "environment": environment()}
    results = ctx.out / "results.json"
    fresh = {v.claim: {**v.to_dict(), "ran_at": ran_at} for v in verdicts}
    kept = [v for v in _earlier_verdicts(results, meta) if v["claim"] not in fresh]
    merged = sorted(kept + list(fresh.values()), key=_claim_order)
    all_hold = all(v["verdict"] == "holds" for v in merged)
    results.write_text(json.dumps({**meta, "all_hold": all_hold, "overall": overall([v["verdict"] for v in merged]), "verdicts": merged}, indent=2))
    report = ctx.out / "report.md"
    report.write_text(_markdown(merged, ctx, meta))
    return results, report


def overall(states: list[str]) -> str:
    """The run's verdict from its claims': ``fails`` if any fails or raised (``error``), else
    ``undecided`` if any is undecided, else ``holds``."""
    if any(state in ("fails", "error") for state in states):
        return "fails"
    return "undecided" if "undecided" in states else "holds"


def verdict_table(verdicts: list[Verdict]) -> str:
    """A plain-text table: claim, verdict, seconds, title."""
    lines = [f"{'claim':6s} {'verdict':9s} {'seconds':>8s}  title"]
    lines += [f"{v.claim:6s} {v.verdict:9s} {v.seconds:8.1f}  {v.title}" + (f" ({v.error})" if v.error else "") for v in verdicts]
    return "\n".join(lines)


def _figure_link(figure: str, out: Path) -> str:
    path = Path(figure)
    return path.relative_to(out).as_posix() if path.is_relative_to(out) else figure


def _state_cell(criterion: dict[str, Any]) -> str:
    state = criterion.get("state", "holds" if criterion["passed"] else "fails")
    if state == "undecided":
        return f"undecided: {criterion.get('undecided', '')}"
    return "yes" if state == "holds" else "NO"


def _markdown(verdicts: list[dict[str, Any]], ctx: CheckContext, meta: dict[str, Any]) -> str:
    runs = sorted({v["ran_at"] for v in verdicts})
    parts = [
        "# PC-ALM claims: verdicts",
        "",
        f"Tier `{ctx.tier}`, method under test `{ctx.method}`, seed {ctx.seed}.",
        "" if len(runs) == 1 else f"Merged from {len(runs)} runs of `pcalm check` (UTC times in the last column; the latest run's environment is at the end).",
        "",
        "| claim | verdict | title | seconds | ran at (UTC) |",
        "|---|---|---|---|---|",
    ]
    parts += [f"| {v['claim']} | **{v['verdict']}** | {v['title']} | {v['seconds']:.1f} | {v['ran_at']} |" for v in verdicts]
    for v in verdicts:
        parts += ["", f"## {v['claim']}: {v['title']} - {v['verdict']}", ""]
        if v.get("error"):
            parts += [f"The check raised: `{v['error']}` (traceback in the evidence below).", ""]
        parts += ["| criterion | measured | threshold | state | why this threshold |", "|---|---|---|---|---|"]
        parts += [f"| {c['name']} | {c['measured']:.6g} | {c['op']} {c['threshold']:.6g} | {_state_cell(c)} | {c['reason']} |" for c in v["criteria"]]
        for title, (header, *rows) in v["evidence"].get("tables", {}).items():  # tables in full, e.g. C4's every cell
            parts += ["", f"{title}:", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            parts += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
        parts += ["", "Evidence:", "", "```json", json.dumps(v["evidence"], indent=1, default=str)[:6000], "```"]
        for figure in v["figures"]:
            parts += ["", f"![{Path(figure).name}]({_figure_link(figure, ctx.out)})"]
            if caption(figure):
                parts += ["", f"*{caption(figure)}*"]
    parts += ["", "## Environment", "", "```json", json.dumps(meta["environment"], indent=1), "```", ""]
    return "\n".join(parts)
