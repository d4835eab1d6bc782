"""One exit-status convention for every command (pcalm/runtime/exit_status.py), ``--out`` checked before
any work (pcalm/experiments/output_dir.py), and runs ended by SIGTERM or Ctrl-C that the next run recognises.

The claim-fails status (1) of ``pcalm check`` is in tests/paper_checks/test_check_command.py
(``--algo pc``, the negative control); train's 3 on divergence in tests/pcalm/commands/test_cli_train.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pcalm.experiments import output_dir
from pcalm.runtime import exit_status
from pcalm.commands.cli import build_parser, main
from tests.helpers import child_process, run_process

REPO = Path(__file__).resolve().parents[3]
_ENV = {**os.environ, "PYTHONPATH": str(REPO)}
COMMANDS = ("train", "grid", "bench", "check", "demo")
# Runs of a second or less with valid settings, --out appended.
TINY = {
    "train": ["train", "--algo", "bp", "--width", "2", "--depth", "2", "--epochs", "1", "--quiet"],
    "grid": ["grid", "--widths", "2", "--depths", "2", "--activations", "linear", "--algos", "bp", "--seeds", "0", "--quiet"],
    "bench": ["bench", "--shape", "3,2,2", "--repeats", "1", "--warmup", "0", "--device", "cpu"],
    "demo": ["demo", "--width", "2", "--depth", "2", "--batch-size", "4"],
}


def _no_traceback_one_line(err: str) -> list[str]:
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    return lines


def _unusable_out(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An --out that cannot hold results, of the given kind."""
    if kind == "not writable":
        return Path("/proc/pcalm-out")  # refused even to root
    if kind == "a file":
        (tmp_path / "file").write_text("kept\n")
        return tmp_path / "file"
    if kind == "under a file":
        (tmp_path / "file").write_text("kept\n")
        return tmp_path / "file" / "out"
    if kind == "a dangling link":
        (tmp_path / "link").symlink_to(tmp_path / "nowhere")
        return tmp_path / "link" / "out"
    assert kind == "full disk"

    class Full:
        f_bavail, f_frsize = 100, 4096  # 0.4 MiB free

    monkeypatch.setattr(output_dir.os, "statvfs", lambda path: Full())
    return tmp_path / "out"


@pytest.mark.parametrize("kind", ["not writable", "a file", "under a file", "a dangling link", "full disk"])
@pytest.mark.parametrize("command", COMMANDS)
def test_an_unusable_out_is_exit_2_naming_it_before_any_work(command: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = _unusable_out(kind, tmp_path, monkeypatch)
    before = sorted(p.name for p in tmp_path.iterdir())
    started = time.perf_counter()
    assert main([*TINY.get(command, [command]), "--out", str(out)]) == exit_status.BAD_INPUT
    assert time.perf_counter() - started < 5  # refused up front (pcalm check would run for minutes)
    (line,) = _no_traceback_one_line(capsys.readouterr().err)
    assert line.startswith(f"pcalm {command}: --out {out}:")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    if kind in ("a file", "under a file"):
        assert (tmp_path / "file").read_text() == "kept\n"


def test_a_folder_with_room_passes_and_stays_unwritten(tmp_path: Path) -> None:
    output_dir.check_output_dir(tmp_path / "new" / "deeper")
    assert list(tmp_path.iterdir()) == []  # the probe leaves no file and makes no folder


@pytest.mark.parametrize("command", sorted(TINY))
def test_a_tiny_valid_run_is_exit_0(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TINY[command], "--out", str(tmp_path / "out")]) == exit_status.OK
    assert any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--eta", "-1"], "eta"),
        (["train", "--alpha", "1e308"], "alpha: 1e+308 does not fit in float32"),  # found by tests/pcalm/commands/test_cli_fuzz.py
        (["train", "--width", "2", "--depth", "2", "--rho", "3e38"], "rho: the activity Hessian at rho=3e+38 overflows"),  # ditto
        (["train", "--split-seed", "-1"], "split_seed: must be an integer >= 0"),
        (["grid", "--widths", "2", "2"], "widths"),
        (["bench", "--shape", "3,0,2"], "--shape"),
        (["bench", "--repeats", "0"], "--repeats"),
        (["bench", "--warmup", "-1"], "--warmup"),
        (["bench", "--threads", "0"], "--threads"),
        (["bench", "--device", "nodevice"], "device"),
        (["check", "--only", "C10"], "unknown claim"),
        (["demo", "--depth", "1"], "depth"),
        # Refused cleanly before the exit-status convention, and kept so:
        (["train", "--width", "0"], "width"),
        (["train", "--depth", "-3"], "depth"),
        (["train", "--activation", "softmax"], "activation"),
        (["train", "--eta", "nan"], "eta"),
        (["train", "--eta", "inf"], "eta"),
        (["train", "--epochs", "0"], "epochs"),
        (["train", "--steps", "0"], "steps"),
        (["train", "--rho", "0"], "rho"),
        (["train", "--alpha", "-1"], "alpha"),
        (["train", "--lr", "-1"], "lr"),
        (["train", "--threads", "0"], "threads"),
        (["train", "--batch-size", "100000"], "batch_size"),
        (["train", "--device", "nodevice"], "device"),
        (["grid", "--widths", "2", "--depths", "2", "2"], "depths"),
        (["grid", "--widths", "2", "--depths", "2", "--activations", "bogus"], "activation"),
        # No cluster at the address (port 1 refuses): refused at once, saying how to start one.
        (["grid", "--widths", "8", "--depths", "4", "--activations", "relu", "--algos", "bp", "--seeds", "0", "--ray", "127.0.0.1:1"], "ray start --head --port 1"),
        (["check", "--only", "C4", "--ray", "127.0.0.1:1"], "ray: no Ray cluster answers at 127.0.0.1:1 ("),
        # Too large for the machine: refused before allocating, with what it needs and what is available.
        (["train", "--width", "100000", "--depth", "100000"], "pc-alm N=100000 L=100000, batch 64 (float32) needs about"),
        (["grid", "--widths", "8", "100000", "--depths", "4", "--activations", "relu", "--algos", "bp", "--seeds", "0"], "bp N=100000 L=4, batch 64 (float32) needs about"),
        (["bench", "--shape", "4,8,2", "--shape", "100000,100000,64"], "bench L=100000 N=100000 B=64 (float32) needs about"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--out", str(tmp_path / "out")]) == exit_status.BAD_INPUT
    (line,) = _no_traceback_one_line(capsys.readouterr().err)
    assert line.startswith(f"pcalm {argv[0]}:") and message in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["bench", "train"])
def test_cuda_without_cuda_is_exit_2_with_one_line(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*TINY[command], "--device", "cuda", "--out", str(tmp_path / "out")]) == exit_status.BAD_INPUT
    (line,) = _no_traceback_one_line(capsys.readouterr().err)
    assert line == f"pcalm {command}: device: 'cuda' asked for, but torch sees no CUDA device"
    assert not (tmp_path / "out").exists()


def test_help_lists_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    epilog = capsys.readouterr().out.split("exit status (every command):")[1]
    codes = [exit_status.OK, exit_status.CLAIM_FAILS, exit_status.BAD_INPUT, exit_status.DIVERGED, exit_status.UNDECIDED, *exit_status.INTERRUPTED.values()]
    assert all(f" {code} " in epilog for code in codes), epilog
    readme = (REPO / "README.md").read_text()
    assert all(f"| {code} |" in readme for code in codes)


def _pcalm(*args: str) -> list[str]:
    return [sys.executable, "-m", "pcalm.commands.cli", *args]


def _started(cwd: Path, *args: str, timeout_s: float = 300):
    """``pcalm args`` as a child that ends whatever happens, with SIGINT and SIGTERM at their
    defaults whatever this run inherited (tests.helpers.child_process)."""
    return child_process(_pcalm(*args), timeout_s, cwd=cwd, env=_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen, lines: int = 1, within_s: float = 120) -> None:
    """Wait until ``path`` holds ``lines`` complete lines (the process still running)."""
    deadline = time.monotonic() + within_s
    while not path.exists() or path.read_text().count("\n") < lines:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_train_says_so_in_its_folder_and_the_next_run_sees_it(signum: int, status: int, tmp_path: Path) -> None:
    long_run = ["train", "--algo", "bp", "--width", "4", "--depth", "2", "--epochs", "100000", "--quiet", "--threads", "1", "--out", "run"]
    with _started(tmp_path, *long_run) as process:
        _wait_for(tmp_path / "run" / "metrics.csv", process, lines=2)  # the header and epoch 0: into the epochs
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    assert process.returncode == status == exit_status.INTERRUPTED[signum]
    (line,) = _no_traceback_one_line(err)
    assert line == f"pcalm train: interrupted ({signal.Signals(signum).name}); run holds partial results, marked in run/INTERRUPTED.json"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["message"].startswith("interrupted in ")
    assert output_dir.interruption(tmp_path / "run")["signal"] == signal.Signals(signum).name
    again = run_process(_pcalm(*long_run[:long_run.index("--epochs")], "--epochs", "1", "--quiet", "--out", "run"), 120, cwd=tmp_path, env=_ENV)
    assert again.returncode == 0, again.stderr
    assert "the last run into run was interrupted" in again.stderr
    assert output_dir.interruption(tmp_path / "run") is None
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "ok"


def test_a_grid_ended_by_sigterm_resumes(tmp_path: Path) -> None:
    grid = ["grid", "--widths", "2", "4", "8", "16", "--depths", "2", "3", "--activations", "linear", "--algos", "bp", "--seeds", "0",
            "--epochs", "5", "--threads", "1", "--quiet", "--out", "grid"]
    with _started(tmp_path, *grid) as process:
        _wait_for(tmp_path / "grid" / "cells.csv", process, lines=2)  # the header and one cell
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    _no_traceback_one_line(err)
    done = len((tmp_path / "grid" / "cells.csv").read_text().splitlines()) - 1
    assert done < 8  # it stopped part-way
    again = run_process(_pcalm(*grid), 300, cwd=tmp_path, env=_ENV)
    assert again.returncode == 0, again.stderr
    assert f"ran {8 - done} cells, skipped {done} already done" in again.stdout
    assert output_dir.interruption(tmp_path / "grid") is None


def test_the_exit_status_and_output_modules_are_torch_free() -> None:
    # Loaded by path, without pcalm/__init__.py: they must not pull torch in (pcalm --help, and a
    # bad --out refused before torch is even imported).
    code = (
        "import importlib.util, sys\n"
        "for name in ('runtime/exit_status', 'runtime/errors', 'runtime/memory', 'experiments/output_dir'):\n"
        f"    spec = importlib.util.spec_from_file_location(name.replace('/', '.'), {str(REPO / 'pcalm')!r} + f'/{{name}}.py')\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print('torch' in sys.modules)\n"
    )
    run = run_process([sys.executable, "-c", code], 60)
    assert run.returncode == 0 and run.stdout.strip() == "False", run.stderr


def test_a_model_too_large_for_the_machine_is_exit_2_with_one_line_before_allocating(tmp_path: Path) -> None:
    run = run_process(_pcalm("train", "--width", "100000", "--depth", "100000", "--out", "X"), 120, cwd=tmp_path, env=_ENV)
    assert run.returncode == exit_status.BAD_INPUT, run.stderr
    (line,) = _no_traceback_one_line(run.stderr)
    needed, available = line.split(" needs about ")[1].split(", but ")
    assert line.startswith("pcalm train: pc-alm N=100000 L=100000") and needed.split()[1] == "PiB" and available.endswith("of memory is available on this machine")
    assert list(tmp_path.iterdir()) == []
