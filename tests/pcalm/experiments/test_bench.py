"""pcalm bench: the FLOP count, the report's internal consistency and the command line.

No timed assertions: the figures depend on the machine; only their relations are checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pcalm.experiments.bench import INPUT_DIM, OUTPUT_DIM, bench_shape, bp_bound_flops, choice_lines, time_interleaved, useful_flops
from pcalm.commands.cli import main


def test_useful_flops_counts_forward_weight_gradients_and_two_passes_per_step() -> None:
    depth, width, batch, steps = 4, 8, 2, 8
    first, hidden, last = 2 * batch * width * INPUT_DIM, 2 * batch * width * width, 2 * batch * OUTPUT_DIM * width
    forward = first + 2 * hidden + last
    per_step = 2 * (2 * hidden + last)  # layer 1 is clamped by x: no prediction or vjp for it in the loop
    assert useful_flops(depth, width, batch, steps) == 2 * forward + steps * per_step


def test_bp_bound_counts_the_forward_pass_weight_gradients_and_input_gradients_above_layer_1() -> None:
    depth, width, batch = 4, 8, 2
    first, hidden, last = 2 * batch * width * INPUT_DIM, 2 * batch * width * width, 2 * batch * OUTPUT_DIM * width
    forward = first + 2 * hidden + last
    assert bp_bound_flops(depth, width, batch) == forward + forward + (2 * hidden + last)


def test_timing_rounds_alternate_their_order_and_skip_the_warmup() -> None:
    calls: list[str] = []
    runs = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    medians = time_interleaved(runs, sync=lambda: None, warmup=1, repeats=2)
    assert calls == list("abc" "cba" "abc")
    assert set(medians) == set("abc") and all(ms >= 0.0 for ms in medians.values())


def test_bench_shape_reports_consistent_ratios(device: torch.device) -> None:
    result = bench_shape(3, 4, 2, device, warmup=0, repeats=1)
    assert result.steps == 6
    assert result.pcalm_over_pc == pytest.approx(result.pcalm_ms / result.pc_ms, rel=1e-12)
    assert result.pcalm_over_bp == pytest.approx(result.pcalm_ms / result.bp_ms, rel=1e-12)
    assert result.pcalm_over_bmm == pytest.approx(result.pcalm_gflops / result.bmm_gflops, rel=1e-12)
    assert result.pcalm_gflops == pytest.approx(useful_flops(3, 4, 2, 6) / result.pcalm_ms / 1e6, rel=1e-12)
    assert result.pcalm_over_dense == pytest.approx(result.pcalm_ms / result.pcalm_dense_ms, rel=1e-12)
    # Depth 3 (H = 2 hidden layers), T = 6: the first step runs on the top layer alone, 1 of 12 layer-steps skipped.
    assert result.skipped_fraction == pytest.approx(1 / 12, rel=1e-12)
    assert result.bp_step_over_bound == pytest.approx(result.bp_step_ms / result.bp_bound_ms, rel=1e-12)
    assert result.bp_bound_ms == pytest.approx(bp_bound_flops(3, 4, 2) / result.bmm_gflops / 1e6, rel=1e-12)
    assert result.way in {"fused", "eager"} and result.bp_way in {"fused", "eager"}
    assert result.pcalm_eager_ms > 0 and (result.pcalm_fused_ms > 0 or (device.type != "cpu" and result.pcalm_fused_ms != result.pcalm_fused_ms))
    # The PC-ALM step holds its stacked state (several (L-1, B, N) buffers): more than nothing.
    assert result.pcalm_peak_mib > 0


def test_bench_command_writes_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--shape", "3,4,2", "--repeats", "1", "--warmup", "0", "--json", "--device", "cpu", "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((tmp_path / "bench.json").read_text())
    assert [row["depth"] for row in written["results"]] == [3] == [row["depth"] for row in printed["results"]]
    assert written["machine"]["device"] == "cpu"
    assert "| 3 | 4 | 2 | 6 |" in (tmp_path / "bench.md").read_text()
    assert "| 3 | 4 | 2 |" in (tmp_path / "bench.md").read_text().split("BP way")[1]  # BP's table


def test_the_choice_lines_name_each_class_its_way_both_times_and_the_source() -> None:
    report = {"way_choice": {"bp threads=2": {"source": "measured", "classes": {"N<=32 L<=32": {"way": "eager", "skew": 4, "eager_ms": 1.5, "fused_ms": 2.25}}}}}
    assert choice_lines(report) == ["- bp threads=2 N<=32 L<=32: eager (SKEW 4; eager 1.50 ms, fused 2.25 ms; measured)"]


def test_bench_command_rejects_a_bad_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--shape", "2,4", "--out", str(tmp_path / "out")]) == 2
    assert "pcalm bench: --shape: expected depth,width,batch" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
