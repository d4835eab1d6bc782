"""The ``pcalm`` command line: one subcommand per module listed in COMMAND_MODULES."""

from __future__ import annotations

import argparse
import importlib
import sys

from pcalm.data.dataset import DataNotFoundError

COMMAND_MODULES = (
    "pcalm.commands.demo",
    "pcalm.commands.train",
    "pcalm.commands.grid",
    "pcalm.commands.bench",
    "pcalm.commands.check",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pcalm", description="BP, PC and PC-ALM side by side.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pcalm`` console script; returns the exit status (2 for bad input or
    missing data: the library raises ValueError naming the bad field, or DataNotFoundError naming
    the missing path; the message is printed here without a traceback)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, DataNotFoundError) as error:
        print(f"pcalm {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
