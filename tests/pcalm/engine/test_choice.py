"""The way chosen by measurement (pcalm.engine.stacked.choice) and its per-machine file
(pcalm.runtime.choice_cache), with injected timings: no test here times anything."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pcalm.engine.stacked import choice
from pcalm.runtime import choice_cache
from tests.helpers import require_fused_kernels

CPU = torch.device("cpu")


def _timer(eager_s: float, fused_s: dict[int, float], calls: list | None = None) -> choice.Timer:
    """A timer giving fixed seconds: ``eager_s``, or ``fused_s[skew]`` fused."""
    def timer(fused: bool, depth: int, width: int, skew: int) -> float:
        if calls is not None:
            calls.append((fused, depth, width, skew))
        return fused_s[skew] if fused else eager_s
    return timer


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty choice folder, nothing chosen in this process, a quiet machine, PCALM_FUSED unset
    (and the fused kernels built: without them there is nothing to choose)."""
    require_fused_kernels()
    monkeypatch.setenv("PCALM_WAY_CACHE", str(tmp_path))
    monkeypatch.delenv("PCALM_FUSED", raising=False)
    monkeypatch.setattr(choice, "_MADE", {})
    monkeypatch.setattr(choice_cache, "busy", lambda threads: False)
    return tmp_path


@given(eager=st.floats(1e-4, 1.0), ratio=st.floats(0.1, 10.0).filter(lambda r: abs(r - 1.0) > 0.1))
def test_measure_picks_the_faster_way_whenever_they_differ_by_more_than_10_percent(eager: float, ratio: float) -> None:
    fused = eager * ratio
    table = choice.measure("inference", _timer(eager, {2: fused * 1.3, 4: fused, 8: fused * 1.5}), budget_s=math.inf)["classes"]
    expected = "fused" if fused < eager else "eager"
    assert set(table) == set(choice.classes())
    assert all(entry["way"] == expected and entry["skew"] == 4 for entry in table.values())
    assert all(entry["fused_ms"] == pytest.approx(1e3 * fused) and entry["eager_ms"] == pytest.approx(1e3 * eager) for entry in table.values())


def test_measure_takes_the_fastest_sweep_length_and_times_every_class_round_robin() -> None:
    calls: list = []
    table = choice.measure("inference", _timer(1.0, {2: 0.3, 4: 0.5, 8: 0.4}, calls), rounds=3, budget_s=math.inf)["classes"]
    assert all(entry["skew"] == 2 and entry["way"] == "fused" for entry in table.values())
    assert {(depth, width) for _, depth, width, _ in calls} == set(choice.classes().values())
    # per class and round: the eager run and one fused run per skew
    assert len(calls) == len(choice.classes()) * 3 * (1 + len(choice.SKEWS))


def test_measure_uses_the_median_so_one_slow_round_does_not_decide() -> None:
    times = iter([9.0, 1.0, 1.0, 1.0, 1.0] * 100)  # the first timed eager run is hit by a burst of load
    def timer(fused: bool, depth: int, width: int, skew: int) -> float:
        return 1.2 if fused else next(times)
    table = choice.measure("bp", timer, rounds=4, budget_s=math.inf)["classes"]
    assert all(entry["way"] == "eager" for entry in table.values())


def test_shape_classes_cover_widths_and_depths() -> None:
    assert choice.shape_class(8, 4) == "N<=32 L<=32"
    assert choice.shape_class(128, 33) == "N<=128 L>32"
    assert choice.shape_class(512, 128) == "N>128 L>32"
    assert len(choice.classes()) == len(choice.WIDTH_CLASSES) * len(choice.DEPTH_CLASSES)


def test_a_first_use_measures_writes_the_file_and_later_uses_read_it(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list = []
    way = choice.choose("bp", 128, 64, CPU, _timer(2e-3, {4: 1e-3}, calls))
    assert (way.fused, way.source, way.shape_class) == (True, "measured", "N<=128 L>32") and calls
    path = choice.cache_path(choice.cache_key())
    written = json.loads(path.read_text())
    assert written["key"] == choice.cache_key() and f"bp threads={torch.get_num_threads()}" in written["entries"]
    calls.clear()
    assert choice.choose("bp", 128, 64, CPU, _timer(2e-3, {4: 1e-3}, calls)).source == "measured"  # kept in this process
    monkeypatch.setattr(choice, "_MADE", {})  # a new process
    again = choice.choose("bp", 128, 64, CPU, _timer(1e-3, {4: 2e-3}, calls))
    assert (again.fused, again.source) == (True, "cached") and calls == []  # made once and kept, not re-timed


@pytest.mark.parametrize("damage", ["", "{not json", '{"key": 1}', "null", "truncated"])
def test_a_corrupt_file_is_measured_again(fresh: Path, damage: str) -> None:
    path = choice.cache_path(choice.cache_key())
    path.parent.mkdir(parents=True, exist_ok=True)
    if damage == "truncated":
        choice.choose("bp", 32, 4, CPU, _timer(2e-3, {4: 1e-3}))
        damage = path.read_text()[:-20]
        choice._MADE.clear()
    path.write_text(damage)
    calls: list = []
    way = choice.choose("bp", 32, 4, CPU, _timer(1e-3, {4: 2e-3}, calls))
    assert (way.fused, way.source) == (False, "measured") and calls
    assert json.loads(path.read_text())["key"] == choice.cache_key()


def test_an_invalid_entry_is_measured_again(fresh: Path) -> None:
    choice.choose("bp", 32, 4, CPU, _timer(2e-3, {4: 1e-3}))
    path = choice.cache_path(choice.cache_key())
    data = json.loads(path.read_text())
    for entry in data["entries"].values():
        entry["classes"]["N<=32 L<=32"]["way"] = "turbo"
    path.write_text(json.dumps(data))
    choice._MADE.clear()
    assert choice.choose("bp", 32, 4, CPU, _timer(1e-3, {4: 2e-3})).source == "measured"


def test_a_stale_file_is_measured_again(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    choice.choose("bp", 32, 4, CPU, _timer(2e-3, {4: 1e-3}))
    path = choice.cache_path(choice.cache_key())
    data = json.loads(path.read_text())
    data["key"]["torch"] = "0.0.1"  # measured under another torch (or CPU, or sources)
    path.write_text(json.dumps(data))
    choice._MADE.clear()
    calls: list = []
    way = choice.choose("bp", 32, 4, CPU, _timer(1e-3, {4: 2e-3}, calls))
    assert (way.fused, way.source) == (False, "measured") and calls


def test_the_key_names_the_cpu_torch_and_the_fast_paths_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = choice.cache_key()
    assert key["cpu"] == choice_cache.cpu_identity() and key["torch"] == torch.__version__
    names = {path.name for path in choice.SOURCES}
    assert {"run.py", "bp.py", "fused.py", "choice.py", "fused_steps.cpp", "residual_stacked.py"} <= names
    # A change to any source (a copy of them, one byte appended) changes the digest, hence the key and the file.
    copies = []
    for path in choice.SOURCES:
        copy = tmp_path / path.name
        copy.write_bytes(path.read_bytes())
        copies.append(copy)
    assert choice_cache.sources_digest(copies) == key["sources"]
    copies[-1].write_bytes(copies[-1].read_bytes() + b" ")
    changed = choice_cache.sources_digest(copies)
    assert changed != key["sources"]
    monkeypatch.setattr(choice_cache, "sources_digest", lambda paths: changed)
    assert choice.cache_path(choice.cache_key()) != choice.cache_path(key)


def test_a_busy_machine_takes_the_default_and_writes_nothing(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choice_cache, "busy", lambda threads: True)
    calls: list = []
    way = choice.choose("inference", 256, 64, CPU, _timer(0.1, {2: 1.0, 4: 1.0, 8: 1.0}, calls))
    assert (way.fused, way.skew, way.source) == (True, choice.SKEW, "default") and calls == []
    assert not choice.cache_path(choice.cache_key()).exists()


def test_pcalm_fused_forces_a_way_and_other_devices_run_eager(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    never = _timer(1.0, {4: 1.0}, calls := [])
    monkeypatch.setenv("PCALM_FUSED", "0")
    assert (choice.choose("inference", 32, 8, CPU, never).fused, choice.choose("bp", 32, 8, CPU, never).source) == (False, "forced")
    assert choice.choose("bp", 32, 8, torch.device("meta"), never).source == "not a CPU"
    monkeypatch.setenv("PCALM_FUSED", "1")
    assert (choice.choose("inference", 32, 8, CPU, never).fused, choice.choose("bp", 32, 8, CPU, never).source) == (True, "forced")
    assert calls == []


def test_without_a_timer_choose_only_reports(fresh: Path) -> None:
    assert choice.choose("bp", 32, 8, CPU, None) is None  # nothing made yet, nothing measured
    made = choice.choose("bp", 32, 8, CPU, _timer(1e-3, {4: 2e-3}))
    assert choice.choose("bp", 32, 8, CPU, None) == made


def test_two_processes_starting_together_measure_once(tmp_path: Path) -> None:
    # flock is per open file, so two threads opening the lock file contend as two processes would.
    path, key, measured = tmp_path / "choices.json", {"k": 1}, []
    def slow() -> dict:
        measured.append(1)
        time.sleep(0.3)
        return {"classes": {}}
    results = []
    workers = [threading.Thread(target=lambda: results.append(choice_cache.measure_once(path, key, "e", lambda e: True, slow))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert measured == [1] and sorted(made for _, made in results) == [False, True]


@pytest.mark.parametrize(("threads", "cores", "load", "expected"), [(2, 2, 0.9, False), (2, 2, 1.5, True), (1, 2, 1.9, False), (1, 2, 2.5, True), (8, 16, 8.0, False), (16, 16, 2.5, True)])
def test_busy_means_the_load_leaves_fewer_free_cores_than_threads(threads: int, cores: int, load: float, expected: bool) -> None:
    assert choice_cache.busy(threads, cores, load) is expected


def test_a_timing_past_its_budget_is_dropped_for_the_default_and_not_written(fresh: Path) -> None:
    slow = _timer(choice.BUDGET_S, {2: 1.0, 4: 1.0, 8: 1.0})  # one eager run alone exceeds the budget: load the average missed
    way = choice.choose("inference", 32, 8, CPU, slow)
    assert (way.fused, way.skew, way.source) == (True, choice.SKEW, "default")
    assert not choice.cache_path(choice.cache_key()).exists()
    with pytest.raises(choice.OverBudget):
        choice.measure("bp", slow)


def test_measure_now_replaces_a_kept_choice_whatever_the_load(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert choice.choose("bp", 32, 8, CPU, _timer(2e-3, {4: 1e-3})).fused is True
    monkeypatch.setattr(choice_cache, "busy", lambda threads: True)
    choice.measure_now("bp", _timer(1e-3, {4: 2e-3}))
    assert choice.choose("bp", 32, 8, CPU, None).fused is False
    choice._MADE.clear()
    assert choice.choose("bp", 32, 8, CPU, _timer(2e-3, {4: 1e-3})) == choice.Way(False, choice.SKEW, "cached", "N<=32 L<=32", torch.get_num_threads())
