"""pcalm bench --model conv: the conv model's PC-ALM, PC and BP steps side by side (figures not judged: timings)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_conv_writes_the_three_timings_and_their_ratios(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pcalm.commands.cli", "bench", "--model", "conv", "--shape", "3,2,4", "--repeats", "1", "--warmup", "0", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "bench.json").read_text())
    (row,) = report["results"]
    assert (report["model"], row["depth"], row["channels"], row["batch"], row["image"], row["steps"]) == ("conv", 3, 2, 4, 8, 6)
    assert row["pcalm_over_pc"] == row["pcalm_ms"] / row["pc_ms"] and row["bp_ms"] > 0
    assert "ALM/PC" in (tmp_path / "bench.md").read_text()


def test_bench_conv_refuses_a_tiny_image(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pcalm.commands.cli", "bench", "--model", "conv", "--image-size", "2", "--out", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.strip().splitlines() == ["pcalm bench: --image-size must be >= 3, got 2"]
