"""``pcalm grid``: the width x depth x activation x algorithm x seed grid, resumable, with heatmaps.

Exit status: 0 when every cell has a row (diverged cells included), 1 when some cells failed on
Ray (named on stderr; a rerun runs them again), 2 on bad input, missing data or no ray package.

``--verify DIR --cells NAME ...`` trains nothing else: it reruns the named cells of the grid in
DIR with their rows' settings and thread counts and compares them with the rows
(:mod:`pcalm.experiments.grid_verify`): exit 0 when each is identical bit for bit, or differs by
rounding only on another CPU model or thread count; 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pcalm.runtime import exit_status
from pcalm.runtime.choices import ALGOS
from pcalm.commands.train import add_shared_options, given_threads, shared_settings
from pcalm.commands.ray_options import add_ray_options, ray_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("grid", help="train every cell of a width x depth grid (resumable) and draw heatmaps")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32, 64, 128], help="widths N of the grid")
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 16, 32, 64, 128], help="depths L of the grid")
    parser.add_argument("--activations", nargs="+", default=["linear", "tanh", "relu"], help="activations of the grid")
    parser.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS), help="algorithms trained in every cell")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of every cell (the heatmaps show their mean)")
    add_shared_options(parser)
    add_ray_options(parser)
    parser.add_argument("--out", type=Path, help="folder for cells.csv, grid_summary.csv, heatmaps and runs/ (required unless --verify)")
    parser.add_argument("--curve", action="store_true", help="evaluate every epoch (runs/<cell>/metrics.csv a learning curve; default: the initial and final model only, the same rows)")
    parser.add_argument("--verify", type=Path, metavar="DIR", help="rerun --cells of the grid in DIR (cells.csv, grid.json) and compare them with its rows; trains nothing else")
    parser.add_argument("--cells", nargs="+", default=[], metavar="NAME", help="with --verify: cells to rerun, e.g. bp_N8_L8_relu_s0 pc-alm_N8_L8_relu_s0")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the missing cells; print how many ran, were skipped and diverged (or, with --verify,
    rerun and compare the named cells)."""
    from pcalm.experiments.grid import GridSpec, run_grid
    from pcalm.experiments.training import TrainConfig

    if args.verify is not None:
        return verify(args)
    if args.out is None:
        raise ValueError("out: --out is required (the grid's folder), unless --verify")
    threads = given_threads(args)
    spec = GridSpec(
        widths=tuple(args.widths), depths=tuple(args.depths), activations=tuple(args.activations),
        algos=tuple(args.algos), seeds=tuple(args.seeds), base=TrainConfig(**shared_settings(args)),
    )
    result = run_grid(spec, args.out, progress=not args.quiet, ray=ray_options(args), threads=threads, curve=args.curve)  # bad input, missing data: exit 2 (pcalm.commands.cli)
    diverged = sum(cell.status == "diverged" for cell in result.cells)
    print(f"grid: ran {result.ran} cells, skipped {result.skipped} already done; {len(result.cells)} rows, {diverged} diverged")
    print(f"wrote {args.out / 'cells.csv'}, {args.out / 'grid_summary.csv'} and {len(result.figures)} heatmaps")
    if result.failed:
        print(f"pcalm grid: {len(result.failed)} cells failed (no row; a rerun runs them again):", file=sys.stderr)
        for failure in result.failed:
            print(f"  {failure.cell} on {failure.node}: {failure.error}", file=sys.stderr)
        return exit_status.CLAIM_FAILS
    return exit_status.OK


def verify(args: argparse.Namespace) -> int:
    """Rerun ``--cells`` of the grid in ``--verify`` and print each comparison."""
    from pcalm.experiments.grid_verify import verify_cells

    if not args.cells:
        raise ValueError("cells: --verify needs --cells NAME ..., e.g. bp_N8_L8_relu_s0 pc-alm_N8_L8_relu_s0")
    comparisons = verify_cells(args.verify, args.cells)
    for c in comparisons:
        print(f"{c.cell}: {c.outcome} (shipped test acc {c.shipped.test_acc!r}, rerun {c.rerun.test_acc!r}; commit {c.shipped.commit or 'not recorded'})")
    return exit_status.OK if all(c.ok for c in comparisons) else exit_status.CLAIM_FAILS
