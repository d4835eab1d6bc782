"""The ``pcalm`` command line: one subcommand per module listed in COMMAND_MODULES."""

from __future__ import annotations

import argparse
import functools
import importlib
import sys

from pcalm.errors import DataNotFoundError  # torch-free: --help and argument errors never load torch

COMMAND_MODULES = (
    "pcalm.commands.demo",
    "pcalm.commands.train",
    "pcalm.commands.grid",
    "pcalm.commands.bench",
    "pcalm.commands.check",
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Ends each option's help with its default, except where there is none to show (None or
    "", or a switch, which takes no value); descriptions and epilogs keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, "") or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pcalm", description="BP, PC and PC-ALM side by side.", formatter_class=HelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=functools.partial(argparse.ArgumentParser, formatter_class=HelpFormatter))
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
