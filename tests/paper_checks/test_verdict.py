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
