"""Verdicts are computed from their criteria and serialise to JSON; the report is written."""

import json

import pytest

from paper_checks import CheckContext, Criterion, Verdict, write_results


def test_verdict_holds_only_when_every_criterion_passes():
    good = Criterion("x", 0.5, "<=", 1.0, "because")
    bad = Criterion("y", 2.0, "<", 1.0, "because")
    assert Verdict("C0", "t", [good]).verdict == "holds"
    assert Verdict("C0", "t", [good, bad]).verdict == "fails"
    assert Verdict("C0", "t", []).verdict == "fails"  # no computation, no verdict


@pytest.mark.parametrize("op,measured,passed", [("<=", 1.0, True), ("<", 1.0, False), (">=", 1.0, True), (">", 1.0, False), (">", float("nan"), False), ("<=", float("nan"), False)])
def test_criterion_comparisons(op, measured, passed):
    assert Criterion("q", measured, op, 1.0, "r").passed is passed


def test_results_json_and_report(tmp_path):
    figure = tmp_path / "figures" / "f.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"png")
    verdicts = [Verdict("C9", "A claim", [Criterion("q", 1.0, "<=", 2.0, "why")], {"n": 3}, [str(figure)])]
    results, report = write_results(verdicts, CheckContext(out=tmp_path))
    data = json.loads(results.read_text())
    assert data["all_hold"] is True
    assert data["verdicts"][0]["criteria"][0]["passed"] is True
    assert "torch" in data["environment"]
    text = report.read_text()
    assert "| C9 | **holds** |" in text and "![f.png](figures/f.png)" in text


def test_worst_keeps_nan_so_a_nan_measurement_fails():
    from paper_checks.measures import worst

    assert max([1e-14, float("nan")]) == 1e-14  # why worst() exists
    measured = worst([1e-14, float("nan")])
    assert measured != measured
    assert not Criterion("error", measured, "<=", 1e-9, "r").passed


@pytest.mark.parametrize(("field", "value"), [("method", "bp"), ("tier", "medium")])
def test_check_context_rejects_an_unknown_method_or_tier(field: str, value: str) -> None:
    # The checks read ctx.method as the method's name and PC as the only negative control:
    # anything else must stop here, not run as PC-ALM.
    with pytest.raises(ValueError, match=field):
        CheckContext(**{field: value})


def test_an_undecided_criterion_makes_the_claim_undecided_unless_another_fails():
    good = Criterion("x", 0.5, "<=", 1.0, "because")
    open_ = Criterion("y", 2.5, "<=", 3.0, "margin", undecided="the interval (1.0, 4.0) straddles the margin 3")
    bad = Criterion("z", 2.0, "<", 1.0, "because")
    assert open_.state == "undecided" and not open_.passed  # measured <= threshold, yet not a pass
    assert Verdict("C0", "t", [good, open_]).verdict == "undecided"
    assert Verdict("C0", "t", [good, open_, bad]).verdict == "fails"
    assert not Verdict("C0", "t", [good, open_]).holds
    assert Criterion("x", 0.5, "<=", 1.0, "r").to_dict()["state"] == "holds"


def test_a_check_that_raises_gets_the_verdict_error_and_the_others_still_run(monkeypatch, tmp_path):
    import paper_checks.run as run_module
    from paper_checks.report import overall

    def broken(ctx):
        raise RuntimeError("root finding failed")

    def fine(ctx):
        return Verdict("C3", "fine", [Criterion("x", 0.0, "<=", 1.0, "r")])

    monkeypatch.setattr(run_module, "get_check", lambda claim: broken if claim == "C1" else fine)
    verdicts = run_module.run_checks(["C1", "C3"], CheckContext(out=tmp_path), progress=lambda line: None)
    assert [v.verdict for v in verdicts] == ["error", "holds"]
    assert verdicts[0].error == "RuntimeError: root finding failed" and "Traceback" in verdicts[0].evidence["traceback"]
    results, report = write_results(verdicts, CheckContext(out=tmp_path))
    data = json.loads(results.read_text())
    assert data["overall"] == "fails" and data["verdicts"][0]["error"] == "RuntimeError: root finding failed"
    assert "The check raised: `RuntimeError: root finding failed`" in report.read_text()
    assert overall(["holds", "undecided"]) == "undecided" and overall(["undecided", "error"]) == "fails" and overall(["holds"]) == "holds"


@pytest.mark.parametrize(("states", "status"), [(["holds", "holds"], 0), (["holds", "undecided"], 4), (["undecided", "fails"], 1), (["holds", "error"], 1)])
def test_pcalm_check_tells_holds_fails_and_undecided_apart_by_its_exit_status(monkeypatch, tmp_path, states, status):
    import paper_checks
    from pcalm.commands.cli import main

    def verdict(claim: str, state: str) -> Verdict:
        criterion = Criterion("x", 0.0 if state != "fails" else 2.0, "<=", 1.0, "r", undecided="open" if state == "undecided" else "")
        return Verdict(claim, "t", [criterion], error="boom" if state == "error" else "")

    monkeypatch.setattr(paper_checks, "run_checks", lambda claims, ctx: [verdict(f"C{i + 1}", s) for i, s in enumerate(states)])
    assert main(["check", "--only", "C1,C2", "--out", str(tmp_path)]) == status
