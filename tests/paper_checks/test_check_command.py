"""`pcalm check --quick`: all nine claims hold, report and figures are written, exit 0; with
`--algo pc` (the negative control) C1, C5, C6, C7, C8 and C9 fail, C2 and C3 hold (they are true
for PC too), and the exit status is 1. (C4 fails or is undecided; its exact criteria are judged
in tests/paper_checks/test_c4_grid.py.)

The two runs share one output folder, so the second resumes the C4 grid the first trained
(the grid always trains BP, PC and PC-ALM; only the method judged changes).
"""

import json

import pytest

from pcalm.commands.cli import main

CLAIMS = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"]


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("check")


@pytest.fixture(scope="module")
def quick(out):
    status = main(["check", "--quick", "--out", str(out)])
    return status, json.loads((out / "results.json").read_text()), (out / "report.md").read_text()


def test_quick_tier_passes_with_report_and_figures(quick, out):
    status, results, report = quick
    verdicts = {v["claim"]: v["verdict"] for v in results["verdicts"]}
    assert verdicts == {claim: "holds" for claim in CLAIMS}, results
    assert status == 0
    figures = [f for v in results["verdicts"] for f in v["figures"]]
    assert len(figures) >= 6
    for figure in figures:
        with open(figure, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert report.count("](figures/") + report.count("](c4_grid") >= len(figures)


def test_pc_as_the_method_fails_exactly_the_claims_about_pcalm(quick, out):
    status = main(["check", "--quick", "--algo", "pc", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    verdicts = {v["claim"]: v["verdict"] for v in results["verdicts"]}
    assert status == 1
    expected = {"C1": "fails", "C2": "holds", "C3": "holds", "C5": "fails", "C6": "fails", "C7": "fails", "C8": "fails", "C9": "fails"}
    assert {claim: verdicts[claim] for claim in expected} == expected, results
    assert verdicts["C4"] in ("fails", "undecided")
    assert results["method"] == "pc"


def test_unknown_claim_is_a_clear_error(capsys, tmp_path):
    assert main(["check", "--only", "C10", "--out", str(tmp_path)]) == 2
    assert "pcalm check: only: unknown claim 'C10'" in capsys.readouterr().err
