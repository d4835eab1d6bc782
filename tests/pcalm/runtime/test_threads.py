"""The thread rule (pcalm.runtime.threads): one thread for small nets, every core for large ones, --threads
overriding it; train, the in-process grid and the checks run with it, and summary.json records it."""

import json

import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import paper_checks.run
import pcalm.runtime.threads
import pcalm.experiments.training
from paper_checks import c5_credit, c7_budget_scaling
from paper_checks.verdict import CheckContext, Criterion, Verdict
from pcalm.commands.cli import main
from pcalm.experiments.grid import GridSpec, run_grid
from pcalm.runtime.threads import ONE_THREAD_BELOW, choose_threads, layer_work
from pcalm.experiments.training import TrainConfig, train

TINY = dict(dataset="digits", epochs=1, batch_size=64, depth=3, activation="relu")


@pytest.fixture
def three_cores(monkeypatch):
    """A machine of three cores (more than this one's two, so that "every core" is not 1 or 2 by chance)."""
    monkeypatch.setattr(pcalm.runtime.threads, "cores", lambda: 3)


def test_small_nets_get_one_thread_and_large_ones_every_core(three_cores):
    small, large = choose_threads(width=8, batch=64), choose_threads(width=512, batch=256)
    assert (small.threads, small.source, small.work, small.threshold, small.cores) == (1, "rule", 8 * 8 * 64, ONE_THREAD_BELOW, 3)
    assert (large.threads, large.source, large.work) == (3, "rule", 512 * 512 * 256)


def test_the_threshold_is_where_the_rule_switches(monkeypatch, three_cores):
    # At the threshold's work the rule takes every core; one sample fewer in the batch, one thread.
    monkeypatch.setattr(pcalm.runtime.threads, "ONE_THREAD_BELOW", layer_work(width=32, batch=64))
    assert choose_threads(width=32, batch=64).threads == 3
    assert choose_threads(width=32, batch=63).threads == 1


def test_every_core_means_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(pcalm.runtime.threads, "cores", lambda: 1)
    assert choose_threads(width=4096, batch=4096).threads == 1


def test_a_given_count_overrides_the_rule_and_bad_counts_are_refused(three_cores):
    assert choose_threads(width=8, batch=64, given=2) == pcalm.runtime.threads.ThreadChoice(2, "given")
    assert choose_threads(width=512, batch=256, given=1).threads == 1
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            choose_threads(8, 64, given=bad)


def _spy_on_steps(monkeypatch) -> list[int]:
    """The torch thread count at every Adam step of the runs that follow."""
    seen = []
    real = pcalm.experiments.training.train_step

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(pcalm.experiments.training, "train_step", spy)
    return seen


def test_train_runs_with_the_rule_records_it_and_restores_the_count(tmp_path, monkeypatch, three_cores):
    # A threshold below the tiny net's work makes the rule pick the (pretended) three cores.
    monkeypatch.setattr(pcalm.runtime.threads, "ONE_THREAD_BELOW", 1)
    seen = _spy_on_steps(monkeypatch)
    before = torch.get_num_threads()
    result = train(TrainConfig(algo="pc-alm", width=4, **TINY), tmp_path / "run", progress=False)
    assert torch.get_num_threads() == before
    assert seen and set(seen) == {3} and result.threads == 3
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["threads"] == 3
    assert summary["thread_choice"] == {"threads": 3, "source": "rule", "work": 4 * 4 * 64, "threshold": 1, "cores": 3}
    assert pcalm.experiments.training.TrainResult.from_dict(summary).thread_choice == result.thread_choice


def test_train_with_given_threads_overrides_the_rule(tmp_path, monkeypatch, three_cores):
    seen = _spy_on_steps(monkeypatch)
    result = train(TrainConfig(algo="bp", width=4, **TINY), None, progress=False, threads=2)
    assert set(seen) == {2} and result.thread_choice == pcalm.runtime.threads.ThreadChoice(2, "given")


def _blas_threads() -> set[int]:
    """The thread counts of the BLAS libraries NumPy and SciPy load (OpenBLAS here)."""
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.mark.parametrize("threads", [1, 3])
def test_a_run_gives_numpy_and_scipys_blas_its_thread_count(monkeypatch, threads):
    # Their idle OpenBLAS threads slowed two one-thread cells side by side 1.7x; eta's Lanczos
    # (SciPy) sums in an order set by that count. Outside the run the count is 2, as set here.
    seen = []
    real = pcalm.experiments.training.train_step

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(pcalm.experiments.training, "train_step", spy)
    with threadpool_limits(limits=2, user_api="blas"):
        train(TrainConfig(algo="pc-alm", width=4, **TINY), None, progress=False, threads=threads)
        assert _blas_threads() == {2}
    assert seen and all(counts == {threads} for counts in seen)


def test_the_train_command_defaults_to_the_rule_and_threads_overrides_it(tmp_path, three_cores):
    args = ["train", "--algo", "bp", "--width", "4", "--depth", "3", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "rule")]) == 0
    assert main(args + ["--threads", "2", "--out", str(tmp_path / "given")]) == 0
    rule = json.loads((tmp_path / "rule" / "summary.json").read_text())
    given = json.loads((tmp_path / "given" / "summary.json").read_text())
    assert (rule["threads"], rule["thread_choice"]["source"], rule["thread_choice"]["cores"]) == (1, "rule", 3)
    assert (given["threads"], given["thread_choice"]["source"]) == (2, "given")


def test_an_in_process_grid_chooses_the_threads_per_cell(tmp_path, monkeypatch, three_cores):
    # The threshold between the two widths' work: the narrow cells get one thread, the wide ones three.
    monkeypatch.setattr(pcalm.runtime.threads, "ONE_THREAD_BELOW", layer_work(width=8, batch=64))
    seen = _spy_on_steps(monkeypatch)
    spec = GridSpec(widths=(4, 8), depths=(3,), activations=("relu",), algos=("bp", "pc-alm"), seeds=(0,), base=TrainConfig(**{k: v for k, v in TINY.items() if k not in ("depth", "activation")}))
    run_grid(spec, tmp_path / "rule", progress=False)
    threads = {cell: json.loads((tmp_path / "rule" / "runs" / cell / "summary.json").read_text())["threads"] for cell in ("bp_N4_L3_relu_s0", "pc-alm_N4_L3_relu_s0", "bp_N8_L3_relu_s0", "pc-alm_N8_L3_relu_s0")}
    assert threads == {"bp_N4_L3_relu_s0": 1, "pc-alm_N4_L3_relu_s0": 1, "bp_N8_L3_relu_s0": 3, "pc-alm_N8_L3_relu_s0": 3}
    assert sorted(set(seen)) == [1, 3]
    seen.clear()
    run_grid(spec, tmp_path / "given", progress=False, threads=2)
    assert set(seen) == {2}


def _verdict_of_threads(seen: list[int]):
    def check(ctx: CheckContext) -> Verdict:
        seen.append(torch.get_num_threads())
        return Verdict("C1", "spy", [Criterion("always", 0.0, "<=", 1.0, "a spy")], {}, [], 0.0)

    return check


def test_the_checks_run_with_the_rule_or_the_given_threads(monkeypatch, three_cores):
    seen = []
    monkeypatch.setattr(paper_checks.run, "get_check", lambda claim: _verdict_of_threads(seen))
    paper_checks.run.run_checks(["C1"], CheckContext(), progress=lambda line: None)
    paper_checks.run.run_checks(["C1"], CheckContext(threads=2), progress=lambda line: None)
    assert seen == [choose_threads(paper_checks.run.OTHER_CHECKS_WIDTH, paper_checks.run.OTHER_CHECKS_BATCH).threads, 2]
    assert seen[0] == 1  # the checks' nets are small


def test_a_check_context_refuses_bad_thread_counts_as_the_command_line_does():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads: must be an integer >= 1"):
            CheckContext(threads=bad)
    assert CheckContext(threads=2).threads == 2 and CheckContext().threads is None


def test_the_other_checks_nets_are_within_the_rules_input():
    # The rule's input for the checks other than C4 must bound the nets they run.
    shapes = [(s["width"], s["batch"]) for s in c5_credit.SHAPES.values()] + [(c7_budget_scaling.WIDTH, c7_budget_scaling.BATCH)]
    assert all(w <= paper_checks.run.OTHER_CHECKS_WIDTH and b <= paper_checks.run.OTHER_CHECKS_BATCH for w, b in shapes)


def test_check_passes_threads_to_c4s_cells(tmp_path, monkeypatch):
    import paper_checks.c4_grid

    given = []

    def stop(*args, threads=None, **kwargs):
        given.append(threads)
        raise RuntimeError("stop")

    monkeypatch.setattr(paper_checks.c4_grid, "run_grid", stop)
    with pytest.raises(RuntimeError, match="stop"):
        paper_checks.c4_grid.check(CheckContext(out=tmp_path, threads=2))
    assert given == [2]


@pytest.mark.parametrize("command", [["check", "--only", "C1"], ["grid", "--widths", "4", "--depths", "3"], ["train"]])
def test_threads_below_one_is_exit_2(tmp_path, command, capsys):
    assert main(command + ["--threads", "0", "--out", str(tmp_path / "out")]) == 2
    assert "threads" in capsys.readouterr().err and not (tmp_path / "out").exists()
