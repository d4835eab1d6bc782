"""C7's pieces: the T* search, the exponent fit with censoring, the judge's failing cases, and the
check on a short depth range (holds for PC-ALM, fails with PC as the method under test)."""

import math

import pytest

import paper_checks.c7_budget_scaling as c7
from paper_checks import CheckContext


def test_threshold_budget_finds_the_first_crossing_of_a_known_curve():
    """cos(T) = 1 - 1/T reaches 0.9 first at T = 10, 0.95 at T = 20 and 0.75 at T = 4 (rtol = 0:
    bisection down to a bracket of width 1)."""
    calls = []

    def cosine(t):
        calls.append(t)
        return 1 - 1 / t

    assert c7.threshold_budget(cosine, 0.9, cap=1000, rtol=0.0) == 10
    assert c7.threshold_budget(cosine, 0.95, cap=1000, rtol=0.0) == 20
    assert c7.threshold_budget(cosine, 0.75, cap=1000, rtol=0.0) == 4  # reached exactly at a power of two
    assert c7.threshold_budget(cosine, 0.9, cap=12, rtol=0.0) == 10  # the cap, 12, is tried after 8
    assert c7.threshold_budget(cosine, 0.95, cap=12, rtol=0.0) is None  # censored
    assert all(t <= 1000 for t in calls)


def test_threshold_budget_stops_bisecting_at_the_relative_tolerance():
    """With rtol = 1/4 the bracket (64, 128] is bisected until its width is at most 16: the answer
    is within 16 above the true crossing T = 100."""
    found = c7.threshold_budget(lambda t: 1 - 10 / t, 0.9, cap=10_000, rtol=0.25)
    assert 100 <= found <= 116


def test_fit_exponent_recovers_a_power_law_and_handles_censoring():
    depths = [4, 8, 16, 32, 64]
    exact = c7.fit_exponent(depths, [3 * d**2 for d in depths], cap_per_layer=10**6, bound="lower")
    assert exact.value == pytest.approx(2.0, abs=1e-12) and exact.stderr == pytest.approx(0.0, abs=1e-12)
    assert exact.low == pytest.approx(2.0, abs=1e-10) and exact.high == pytest.approx(2.0, abs=1e-10)
    censored_top = [3 * d**2 for d in depths[:-1]] + [None]
    upper = c7.fit_exponent(depths, censored_top, cap_per_layer=64, bound="upper")
    assert upper.value == math.inf and upper.high == math.inf and upper.censored_depths == [64]
    lower = c7.fit_exponent(depths, censored_top, cap_per_layer=64, bound="lower")
    assert lower.value == pytest.approx(lower.slope_as_fitted) and lower.value < 2.0  # the cap is a lower bound
    censored_bottom = [None] + [3 * d**2 for d in depths[1:]]
    assert math.isnan(c7.fit_exponent(depths, censored_bottom, cap_per_layer=64, bound="lower").value)
    with pytest.raises(ValueError, match="bound"):
        c7.fit_exponent(depths, censored_top, cap_per_layer=64, bound="both")


def _exponent(value, spread=0.05):
    return c7.Exponent(value, spread, value, [], "upper", value - spread, value + spread)


def test_confidence_bounds_of_a_noisy_power_law():
    """Two replicates of T* = 3 L^1.2 times a known +-10% factor: the bounds are the slope -+
    t_{0.95, 8} (1.860) times linregress's standard error, and they contain 1.2."""
    depths = [4, 8, 16, 32, 64] * 2
    noise = [1.1, 0.9, 1.1, 0.9, 1.1, 0.9, 1.1, 0.9, 1.1, 0.9]
    fit = c7.fit_exponent(depths, [3 * d**1.2 * f for d, f in zip(depths, noise)], cap_per_layer=10**6, bound="upper")
    assert fit.high - fit.value == pytest.approx(1.8595480375 * fit.stderr, rel=1e-6)
    assert fit.low < 1.2 < fit.high


@pytest.mark.parametrize(
    "tested, pc, expected",
    [
        (1.1, 1.9, [True, True]),
        (2.0, 1.9, [False, True]),  # a diffusive exponent in PC-ALM's place
        (1.1, 1.2, [True, False]),  # a wave-like exponent for PC
        (math.inf, 1.9, [False, True]),  # censored: unbounded above
        (1.1, math.nan, [True, False]),  # censoring left PC's bound unknown
    ],
)
def test_judge_fails_on_a_wrong_exponent(tested, pc, expected):
    criteria = c7.judge_exponents("pc-alm", _exponent(tested), _exponent(pc))
    assert [c.passed for c in criteria] == expected


def test_an_upper_bound_above_the_threshold_does_not_hold_though_the_point_is_below():
    """Planted: PC-ALM's point estimate 1.2 (below 1.3) with bounds 1.0..1.4: undecided, not holds;
    with bounds 1.35..1.45 it fails. PC's 1.6 with bounds 1.4..1.8 is undecided against 1.5."""
    tested, pc = c7.judge_exponents("pc-alm", _exponent(1.2, 0.2), _exponent(1.6, 0.2))
    assert tested.state == "undecided" and "straddles 1.3" in tested.undecided
    assert pc.state == "undecided"
    assert c7.judge_exponents("pc-alm", _exponent(1.4, 0.05), _exponent(1.9))[0].state == "fails"
    verdict = c7.Verdict("C7", "planted", [tested])
    assert verdict.verdict != "holds"


@pytest.fixture(scope="module")
def short_range(monkeypatch_module):
    monkeypatch_module.setitem(c7.DEPTHS, "quick", (4, 8, 16))
    monkeypatch_module.setitem(c7.REPLICATES, "quick", 2)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_c7_holds_for_pcalm_and_fails_for_pc_on_depths_4_to_16(short_range, tmp_path_factory):
    """Depths 4-16 (the quick tier's first three, a few seconds): PC-ALM's exponent is about 1.2, PC's
    about 2; with PC as the method under test its exponent is judged against 1.3 and fails."""
    holds = c7.check(CheckContext(out=tmp_path_factory.mktemp("alm")))
    assert holds.verdict == "holds", holds.to_dict()["criteria"]
    assert holds.figures and holds.figures[0].endswith("c7_budget_scaling.png") and holds.figures[1].endswith("c7_budget_099.png")
    fails = c7.check(CheckContext(method="pc", out=tmp_path_factory.mktemp("pc")))
    assert fails.verdict == "fails"
    assert fails.criteria[0].state == "fails" and fails.criteria[0].measured >= c7.PC_MIN_EXPONENT
