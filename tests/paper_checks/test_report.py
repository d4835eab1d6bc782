"""`pcalm check --only` runs each named claim once, and merges its verdicts into the results of
an earlier run of the same tier, method and seed instead of replacing the full report."""

from __future__ import annotations

import json

import pytest

import paper_checks.run
from paper_checks import CheckContext, Criterion, Verdict, run_checks, write_results
from paper_checks.report import FIGURE_CAPTIONS, caption
from pcalm.commands.cli import main


def verdict(claim: str, measured: float) -> Verdict:
    return Verdict(claim, f"claim {claim}", [Criterion("q", measured, "<=", 1.0, "why")])


def test_a_claim_named_twice_runs_once_in_first_order(monkeypatch):
    ran = []

    def fake_check(claim):
        def check(ctx):
            ran.append(claim)
            return verdict(claim, 0.0)

        return check

    monkeypatch.setattr(paper_checks.run, "get_check", fake_check)
    verdicts = run_checks(["C3", "C1", "C3", "C1"], CheckContext(), progress=lambda message: None)
    assert ran == ["C3", "C1"] and [v.claim for v in verdicts] == ["C3", "C1"]


def test_empty_and_repeated_names_on_the_command_line(monkeypatch, tmp_path, capsys):
    ran = []
    monkeypatch.setattr(paper_checks.run, "get_check", lambda claim: lambda ctx: ran.append(claim) or verdict(claim, 0.0))
    assert main(["check", "--only", "C3,,C3", "--out", str(tmp_path)]) == 0
    assert ran == ["C3"]


def read(out):
    return json.loads((out / "results.json").read_text()), (out / "report.md").read_text()


def test_a_partial_run_merges_into_the_earlier_results(tmp_path):
    ctx = CheckContext(out=tmp_path)
    write_results([verdict("C1", 0.0), verdict("C2", 0.0), verdict("C3", 0.0)], ctx)
    first, _ = read(tmp_path)
    write_results([verdict("C2", 5.0)], ctx)  # C2 reruns and now fails
    merged, report = read(tmp_path)
    assert [v["claim"] for v in merged["verdicts"]] == ["C1", "C2", "C3"]
    assert [v["verdict"] for v in merged["verdicts"]] == ["holds", "fails", "holds"]
    assert merged["all_hold"] is False
    kept = {v["claim"]: v for v in merged["verdicts"]}
    assert kept["C1"] == first["verdicts"][0]  # kept as it was, with its own run time
    assert all(v["ran_at"] for v in merged["verdicts"])
    assert "| C2 | **fails** |" in report and "| C1 | **holds** |" in report and "ran at (UTC)" in report


@pytest.mark.parametrize("other", [dict(method="pc"), dict(tier="full"), dict(seed=1)])
def test_results_of_another_method_tier_or_seed_are_replaced(tmp_path, other):
    write_results([verdict("C1", 0.0), verdict("C2", 0.0)], CheckContext(out=tmp_path))
    write_results([verdict("C2", 0.0)], CheckContext(out=tmp_path, **other))
    merged, report = read(tmp_path)
    assert [v["claim"] for v in merged["verdicts"]] == ["C2"]
    assert "| C1 |" not in report


def test_every_figure_has_a_caption_saying_what_a_false_claim_would_show():
    figures = ("c2_convergence.png", "c3_pc_cosine_vs_depth.png", "heatmap_relu.png", "c5_credit_heatmaps.png", "c5_arrival_times.png", "c5_gradient_ratios.png",
               "c7_budget_scaling.png", "c7_budget_099.png", "c4_trained_cosine.png", "c8_distance.png", "c8_cosine_to_bp.png", "c8_lam_norm.png", "c8_z_from_feedforward.png", "c8_eps_norm.png")
    for name in figures:
        assert "Were C" in caption(f"/some/out/figures/{name}"), name
    assert caption("unknown.png") == ""
    assert all(text.count(". Were C") == 1 for text in FIGURE_CAPTIONS.values())  # one line: what it shows, then the false case
