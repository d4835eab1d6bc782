"""The command line's help and argument errors come without loading torch (they must answer in
well under a second), every option's help shows its default, and the library's public names
still load on first use."""

from __future__ import annotations

import sys

import pytest

import pcalm
from pcalm.commands.cli import build_parser
from tests.helpers import run_process

COMMANDS = ("demo", "train", "grid", "bench", "check")

# Runs the CLI in a fresh interpreter and reports which heavy modules it loaded.
PROBE = """
import sys
from pcalm.commands.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exit_:
    status = exit_.code
heavy = sorted(m for m in ("torch", "numpy", "scipy", "sympy", "matplotlib", "sklearn") if m in sys.modules)
print("STATUS", status, "LOADED", ",".join(heavy) or "-")
"""


def probe(*argv: str) -> tuple[int, str]:
    """Exit status and the heavy modules loaded by ``pcalm argv`` in a fresh interpreter."""
    run = run_process([sys.executable, "-c", PROBE, *argv], 120)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    last = out.strip().splitlines()[-1].split()
    return int(last[1]), last[3]


@pytest.mark.parametrize("argv", [("--help",), *((command, "--help") for command in COMMANDS)])
def test_help_loads_no_heavy_module(argv):
    assert probe(*argv) == (0, "-")


@pytest.mark.parametrize("argv", [("train", "--algo", "sgd", "--out", "x"), ("grid", "--seeds", "one", "--out", "x"), ("nonsense",), ()])
def test_argument_errors_exit_2_without_heavy_modules(argv):
    assert probe(*argv) == (2, "-")


def test_every_option_help_shows_its_default():
    """Each option that takes a value and has a default (not None or "") ends its help with it."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name in COMMANDS:
        sub = subparsers[name]
        text = sub.format_help()
        for action in sub._actions:
            if action.help is None and action.dest != "help":
                pytest.fail(f"pcalm {name} {action.option_strings}: no help text")
            if action.option_strings and action.default not in (None, "") and action.nargs != 0:
                assert f"(default: {action.default})" in " ".join(text.split()), (name, action.dest)


def test_public_names_load_on_first_use():
    """``pcalm.__all__`` lists the public API; every name resolves, to the object its home defines."""
    import pcalm.models

    assert pcalm.ResidualMLP is pcalm.models.ResidualMLP
    assert all(getattr(pcalm, name) is not None for name in pcalm.__all__)
    assert set(pcalm.__all__) <= set(dir(pcalm))
    with pytest.raises(AttributeError, match="no attribute 'ResidualMLPs'"):
        pcalm.ResidualMLPs


def test_data_not_found_error_has_one_home():
    import pcalm.data
    import pcalm.runtime.errors

    assert pcalm.data.DataNotFoundError is pcalm.runtime.errors.DataNotFoundError
