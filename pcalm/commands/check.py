"""``pcalm check``: re-verify the paper's claims C1-C8; a thin front to ``paper_checks``."""

from __future__ import annotations

import argparse
from pathlib import Path

from pcalm.runtime import exit_status
from pcalm.commands.ray_options import add_ray_options, ray_options
from pcalm.commands.train import add_threads_option, given_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check", help="verify the claims C1-C8 of the design note (docs/design.md): verdicts, report.md, results.json, figures")
    tier = parser.add_mutually_exclusive_group()
    tier.add_argument("--quick", dest="tier", action="store_const", const="quick", help="the quick tier (default; fits CI)")
    tier.add_argument("--full", dest="tier", action="store_const", const="full", help="the paper-scale tier")
    parser.set_defaults(tier="quick")
    parser.add_argument("--only", default="", help="comma-separated claims, e.g. C1,C4 (default: all)")
    parser.add_argument("--algo", choices=["pc-alm", "pc"], default="pc-alm", help="method under test; pc is a negative control under which C1, C4, C5, C6 and C7 fail")
    parser.add_argument("--out", type=Path, default=Path("results/check"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of every net, batch and grid cell of the checks")
    parser.add_argument("--max-seeds", type=int, default=None, metavar="K", help="C4's full tier: seeds an undecided cell may grow to, one at a time (default 6)")
    parser.add_argument("--judge", type=Path, default=None, metavar="DIR", help="C4: judge the rows in DIR/<dataset>/cells.csv (e.g. docs/results/c4_full) with today's rule; trains nothing")
    add_ray_options(parser)  # C4's grids
    add_threads_option(parser)  # C4's cells in this process and the other checks' torch work
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the selected checks, print the verdict table, write the report; exit 0 if every claim
    holds, 1 if any fails or raised, 4 if none fails but some are undecided."""
    from paper_checks import CheckContext, run_checks, write_results
    from paper_checks.report import overall, verdict_table

    claims = [c.strip().upper() for c in args.only.split(",") if c.strip()] or None
    ctx = CheckContext(tier=args.tier, method=args.algo, out=args.out, seed=args.seed, ray=ray_options(args), threads=given_threads(args), max_seeds=args.max_seeds, judge=args.judge)
    verdicts = run_checks(claims, ctx)  # an unknown claim raises ValueError before any work: exit 2
    results, report = write_results(verdicts, ctx)
    print(verdict_table(verdicts))
    print(f"wrote {report} and {results}")
    return {"holds": exit_status.OK, "fails": exit_status.CLAIM_FAILS, "undecided": exit_status.UNDECIDED}[overall([v.verdict for v in verdicts])]
