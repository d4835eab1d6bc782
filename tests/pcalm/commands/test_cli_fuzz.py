"""Fuzzing the command line of ``train``, ``grid``, ``bench`` and ``check`` (Hypothesis): every
generated command line ends with status 0, 2 or 3 (pcalm/runtime/exit_status.py), never a traceback.

The options are drawn mostly from invalid and edge values (zero, negative, NaN, infinite, not a
number, unknown names, an unusable --out) and otherwise from tiny valid ones, so that the runs
that do train last well under a second: digits, width and depth 2-3, one epoch, at most four
grid cells, a 3x2x2 bench shape timed once. ``check`` always gets at least one value that must
be refused before any work (a ``check`` that ran would take minutes). The fused kernels are
switched off (PCALM_FUSED=0) so that no example waits for their build, and torch's thread count
is restored after each example.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from unittest import mock

import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pcalm.runtime import exit_status
from pcalm.commands.cli import main

ALLOWED = {exit_status.OK, exit_status.BAD_INPUT, exit_status.DIVERGED}
INTS = ["0", "-3", "1", "2", "x", "", "1.5"]
FLOATS = ["0", "-1", "nan", "inf", "-inf", "x", "", "1e-3", "0.5", "1", "1e30", "3e38", "1e308"]


def _option(flag: str, values: list[str]) -> st.SearchStrategy[list[str]]:
    return st.sampled_from(values).map(lambda value: [flag, value])


def _shared() -> list[st.SearchStrategy[list[str]]]:
    """The options train and grid share (pcalm.commands.train.add_shared_options)."""
    return [
        _option("--dataset", ["digits", "digits", "mnist", "bogus"]),
        _option("--epochs", ["1", "1", "0", "-1", "x"]),
        _option("--batch-size", ["64", "0", "-2", "100000", "x"]),
        _option("--eta", ["auto", "0.1", "50", "-1", "0", "nan", "inf", "x", "1e308"]),  # 50 diverges: status 3
        _option("--alpha", FLOATS),
        _option("--rho", FLOATS),
        _option("--steps", ["1", "2", "0", "-1", "x"]),
        _option("--lr", FLOATS),
        _option("--device", ["cpu", "cuda", "bogus", ""]),
        _option("--dtype", ["float32", "float64", "float16"]),
        _option("--split-seed", ["0", "1", "-1", "x"]),
        _option("--threads", ["1", "0", "-1", "x"]),
    ]


def _command(name: str, fixed: list[str], options: list[st.SearchStrategy[list[str]]]) -> st.SearchStrategy[list[str]]:
    """``name`` with ``fixed`` and a random subset of ``options`` in random order."""
    chosen = st.lists(st.sampled_from(range(len(options))), unique=True, max_size=len(options))
    return chosen.flatmap(lambda picks: st.tuples(*(options[i] for i in picks)) if picks else st.just(())).map(
        lambda parts: [name, *fixed, *(token for part in parts for token in part)]
    )


def _out(kind: str, folder: Path) -> list[str]:
    if kind == "file":
        (folder / "file").write_text("")
        return ["--out", str(folder / "file")]
    return ["--out", {"fresh": str(folder / "out"), "proc": "/proc/pcalm-fuzz"}[kind]]


def _run(argv: list[str]) -> int:
    """The status of ``pcalm argv`` (argparse's own exits included), in-process, quiet."""
    threads = torch.get_num_threads()
    try:
        with mock.patch.dict(os.environ, {"PCALM_FUSED": "0"}), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                return main(argv)
            except SystemExit as stop:  # argparse: bad usage is 2
                return stop.code
    finally:
        torch.set_num_threads(threads)


TRAIN = _command("train", ["--quiet", "--width", "2"], [
    _option("--algo", ["bp", "pc", "pc-alm", "alm"]),
    _option("--width", ["2", "3", "0", "-1", "x"]),
    _option("--depth", ["2", "3", "1", "0", "-3", "x"]),
    _option("--activation", ["linear", "tanh", "relu", "softmax", ""]),
    _option("--seed", ["0", "1", "-1", "x"]),
    *_shared(),
])


def _grid_list(flag: str, values: list[str], most: int) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), min_size=0, max_size=most).map(lambda chosen: [flag, *chosen])


GRID = _command("grid", ["--quiet", "--widths", "2", "--depths", "2", "--activations", "linear", "--algos", "bp", "--seeds", "0"], [
    _grid_list("--widths", ["2", "3", "0", "-1", "x"], 2),
    _grid_list("--depths", ["2", "1", "-3", "x"], 1),
    _grid_list("--activations", ["linear", "tanh", "bogus"], 1),
    _grid_list("--algos", ["bp", "pc", "pc-alm", "alm"], 2),
    _grid_list("--seeds", ["0", "1", "x"], 1),
    *_shared(),
])

BENCH = _command("bench", ["--shape", "3,2,2", "--repeats", "1", "--warmup", "0"], [
    _option("--shape", ["3,2,2", "2,2,2", "3,0,2", "3,2,0", "3,2", "a,b,c", "", "3,-2,2"]),
    _option("--repeats", ["1", "0", "-1", "x"]),
    _option("--warmup", ["0", "1", "-1", "x"]),
    _option("--threads", ["1", "0", "-1", "x"]),
    _option("--device", ["cpu", "cuda", "bogus", ""]),
    st.just(["--json"]),
])

REFUSED_CHECK = st.sampled_from([
    ["--only", "C9"], ["--only", "C1,C9"], ["--only", "c0"], ["--seed", "x"], ["--algo", "bp"], ["--quick", "--full"], ["--out", "/proc/pcalm-fuzz"],
])
CHECK = st.tuples(REFUSED_CHECK, _command("check", [], [
    _option("--only", ["C9", "", ",", "C1,C1,C9", "x"]),
    _option("--algo", ["pc-alm", "pc", "bp"]),
    _option("--seed", ["0", "-1", "x"]),
    st.sampled_from([["--quick"], ["--full"]]),
])).map(lambda parts: [*parts[1], *parts[0]])


@settings(max_examples=int(os.environ.get("PCALM_FUZZ_EXAMPLES", "40")))
@given(argv=st.one_of(TRAIN, GRID, BENCH, CHECK), out=st.sampled_from(["fresh", "fresh", "fresh", "proc", "file"]))
def test_every_command_line_ends_with_0_2_or_3(argv: list[str], out: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        extra = _out(out, Path(folder)) + (["--data-dir", str(Path(folder) / "no-data")] if argv[0] in ("train", "grid") else [])
        status = _run([argv[0], *extra, *argv[1:]])  # argv's own options come last and win (check's refused --out)
        event(f"{argv[0]} status {status}")
        assert status in ALLOWED
