"""``pcalm train`` end to end as a user runs it: outputs in --out, clear errors, divergence reported."""

import json
import os
import sys
from pathlib import Path

from tests.helpers import run_process

REPO = Path(__file__).resolve().parents[3]


def _pcalm(cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return run_process([sys.executable, "-m", "pcalm.commands.cli", *args], 300, cwd=cwd, env=env)


def test_train_writes_only_into_out(tmp_path):
    run = _pcalm(tmp_path, "train", "--algo", "pc-alm", "--width", "8", "--depth", "4", "--epochs", "2", "--threads", "1", "--quiet", "--out", "run")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["metrics.csv", "summary.json"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["steps_done"] == 44 and summary["threads"] == 1
    assert "test acc" in run.stdout


def test_missing_mnist_is_a_clear_message_not_a_traceback(tmp_path):
    run = _pcalm(tmp_path, "train", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--out", "run")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert str(tmp_path / "data" / "MNIST" / "raw") in run.stderr and "pcalm[vision]" in run.stderr
    assert not (tmp_path / "run").exists()


def test_bad_settings_are_a_clear_message(tmp_path):
    run = _pcalm(tmp_path, "train", "--width", "0", "--out", "run")
    assert run.returncode == 2 and "width: must be an integer >= 1" in run.stderr and "Traceback" not in run.stderr


def test_nan_diverging_eta_is_reported_as_diverged(tmp_path):
    run = _pcalm(tmp_path, "train", "--algo", "pc", "--eta", "10", "--width", "8", "--depth", "8", "--threads", "1", "--quiet", "--out", "run")
    assert run.returncode == 3, run.stderr
    assert "diverged" in run.stderr and "Traceback" not in run.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "diverged"


def test_grid_with_missing_mnist_writes_nothing(tmp_path):
    run = _pcalm(tmp_path, "grid", "--widths", "4", "--depths", "2", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--out", "grid")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert str(tmp_path / "data" / "MNIST" / "raw") in run.stderr
    assert not (tmp_path / "grid").exists()
