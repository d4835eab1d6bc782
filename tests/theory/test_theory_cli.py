"""run_all and `python -m theory`: verdicts, JSON, report, output folder only."""

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers import run_process
from theory import run_all

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results_depth2():
    return run_all(2)


def test_run_all_every_result_holds_and_serialises(results_depth2):
    names = [r.name for r in results_depth2]
    assert len(names) == len(set(names))
    assert all(r.verdict == "holds" for r in results_depth2), [r.name for r in results_depth2 if not r.holds]
    assert any(n.startswith("control_") for n in names)
    for r in results_depth2:
        json.dumps(dataclasses.asdict(r))
        assert set(r.to_json()) == {"name", "claim", "verdict", "details"}


def test_run_all_rejects_depth_one():
    with pytest.raises(ValueError):
        run_all(1)


def test_cli_json_and_report(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = run_process([sys.executable, "-m", "theory", "--depth", "3", "--json", "--out", str(out)], 300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert {tuple(sorted(o)) for o in payload} == {("claim", "details", "name", "verdict")}
    assert {o["verdict"] for o in payload} == {"holds"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    report = (out / "theory_report.md").read_text()
    for o in payload:
        assert f"## {o['name']}" in report
    assert "c2_routh_hurwitz_depth3" in report
    assert report.count("$$") % 2 == 0 and report.count("$$") > 20
    for block in report.split("$$")[1::2]:
        assert block.count("{") == block.count("}")
    assert json.loads((out / "theory_results.json").read_text()) == payload


@pytest.mark.parametrize("kind", ["a file", "under a file"])
def test_cli_refuses_an_unusable_out_before_any_derivation(tmp_path, kind):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker if kind == "a file" else blocker / "sub"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = run_process([sys.executable, "-m", "theory", "--depth", "2", "--out", str(out)], 120, cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    assert f"--out {out}: cannot be written" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""  # no derivation ran: each prints its verdict line
