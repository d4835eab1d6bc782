"""``python -m theory [--depth L] [--json] [--out DIR]``: run every derivation, write the report.

Prints one verdict line per derivation (or, with ``--json``, one JSON list of
``{"name", "claim", "verdict", "details"}``), writes ``DIR/theory_report.md`` and
``DIR/theory_results.json`` and exits with status 1 if any verdict is "fails" (2, before any
derivation, when ``DIR`` cannot be made or written).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from theory.report import render_markdown
from theory.run import run_all

DEFAULT_OUT = Path("results") / "theory"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m theory", description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=4, help="scalar-chain and block-form depth L (>= 2)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON list")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.depth < 2:
        parser.error("--depth must be >= 2: PC and PC-ALM coincide with BP without hidden layers")
    try:  # an unusable --out is refused in one line before the derivations run, not with a traceback after them
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=args.out):
            pass
    except OSError as error:
        parser.error(f"--out {args.out}: cannot be written ({error.strerror or type(error).__name__})")
    results = run_all(args.depth)
    payload = [r.to_json() for r in results]
    command = "python -m theory" + ("" if args.depth == 4 else f" --depth {args.depth}")
    (args.out / "theory_report.md").write_text(render_markdown(results, command))
    (args.out / "theory_results.json").write_text(json.dumps(payload, indent=2) + "\n")
    if args.json:
        print(json.dumps(payload))
    else:
        for r in results:
            print(f"{r.verdict:5s}  {r.name}: {r.claim}")
        print(f"report: {args.out / 'theory_report.md'}")
    return 0 if all(r.holds for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
