"""The ``pcalm`` command line: one subcommand per module listed in COMMAND_MODULES."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from pcalm.runtime import exit_status
from pcalm.runtime.errors import DataNotFoundError  # torch-free: --help and argument errors never load torch
from pcalm.experiments.output_dir import check_output_dir, clear_interrupted, interruption, mark_interrupted

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
    parser = argparse.ArgumentParser(prog="pcalm", description="BP, PC and PC-ALM side by side.", epilog=exit_status.EPILOG, formatter_class=HelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=functools.partial(argparse.ArgumentParser, formatter_class=HelpFormatter))
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


class Interrupted(KeyboardInterrupt):
    """SIGTERM, raised as KeyboardInterrupt so that runs end as on Ctrl-C (summaries written)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises Interrupted (once; a second one is ignored) while the command runs."""

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Interrupted(signum)

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pcalm`` console script; returns the exit status (pcalm.runtime.exit_status).

    Before any work, ``--out`` must be a writable folder (or one that can be made) with free
    space. Bad input or missing data is exit 2: the library raises ValueError naming the bad
    field, or DataNotFoundError naming the missing path; the message is printed here without a
    traceback. Ctrl-C or SIGTERM ends the run with 130 or 143 and ``INTERRUPTED.json`` in --out
    (removed by the next run that finishes there).
    """
    args = build_parser().parse_args(argv)
    out: Path | None = getattr(args, "out", None)
    try:
        with _sigterm_interrupts():
            if out is not None:
                check_output_dir(out)
                if (previous := interruption(out)) is not None:
                    print(f"pcalm {args.command}: the last run into {out} was interrupted ({previous.get('signal')}, {previous.get('time')}); "
                          "its files are partial until this run ends", file=sys.stderr)
            status = args.func(args)
    except (ValueError, DataNotFoundError) as error:
        print(f"pcalm {args.command}: {error}", file=sys.stderr)
        return exit_status.BAD_INPUT
    except KeyboardInterrupt as error:
        signum = error.signum if isinstance(error, Interrupted) else signal.SIGINT
        name = signal.Signals(signum).name
        where = f"{out} holds partial results, marked in {out}/INTERRUPTED.json" if out is not None and mark_interrupted(out, args.command, name) else "nothing was written"
        print(f"pcalm {args.command}: interrupted ({name}); {where}", file=sys.stderr)
        return exit_status.INTERRUPTED[signum]
    if out is not None:
        clear_interrupted(out)
    return status


if __name__ == "__main__":
    sys.exit(main())
