"""The trainer: config checks, eta rule, reproducibility, divergence, outputs, and the N = L = 32 digits cell."""

import json
import math

import pytest
import torch

from pcalm import activity_lambda_max
from pcalm.data import load_dataset
from pcalm.models import ResidualMLP
from pcalm.experiments.training import TrainConfig, TrainResult, train

SMALL = dict(width=8, depth=4, epochs=2)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(algo="sgd"), "algo"),
        (dict(width=0), "width"),
        (dict(depth=1), "depth"),
        (dict(epochs=0), "epochs"),
        (dict(eta=-1.0), "eta"),
        (dict(eta=float("nan")), "eta"),
        (dict(rho=0.0), "rho"),
        (dict(dataset="cifar"), "dataset"),
        (dict(activation="gelu"), "activation"),
        (dict(lr=0.0), "lr"),
        (dict(dtype="float16"), "dtype"),
        (dict(device="gpu0"), "device"),
    ],
)
def test_bad_settings_are_refused_by_name(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)


def test_trainer_and_grid_are_exported_at_the_top_level():
    import pcalm
    import pcalm.experiments.grid
    import pcalm.experiments.training

    assert pcalm.train is pcalm.experiments.training.train and pcalm.TrainConfig is TrainConfig
    assert pcalm.run_grid is pcalm.experiments.grid.run_grid and pcalm.GridSpec is pcalm.experiments.grid.GridSpec


def test_learning_rate_follows_the_paper():
    assert TrainConfig(width=32, depth=8).learning_rate() == pytest.approx(1e-3 * 2.0)
    assert TrainConfig(width=32, depth=8, lr=0.01).learning_rate() == 0.01


def test_auto_eta_is_one_over_lambda_max_of_the_initial_model_on_the_probe_batch():
    result = train(TrainConfig(algo="pc", **{**SMALL, "epochs": 1}), progress=False)
    data = load_dataset("digits")
    model = ResidualMLP(64, 8, 4, 10, "relu", seed=0)
    probe = (data.x_train[:64].float(), data.y_train[:64].float())
    assert result.lambda_max == pytest.approx(activity_lambda_max(model, *probe), rel=1e-5)
    assert result.eta == pytest.approx(1.0 / result.lambda_max, rel=1e-12)
    assert train(TrainConfig(algo="pc", eta=0.1, **SMALL), progress=False).eta == 0.1


@pytest.mark.parametrize("algo", ["bp", "pc", "pc-alm"])
def test_runs_are_bit_for_bit_reproducible_and_seeded(algo):
    config = TrainConfig(algo=algo, **SMALL)
    first, second = train(config, progress=False), train(config, progress=False)
    strip = lambda r: [{k: v for k, v in m.__dict__.items() if k != "elapsed_s"} for m in r.history]  # noqa: E731
    assert strip(first) == strip(second)
    other = train(TrainConfig(algo=algo, **{**SMALL, "seed": 1}), progress=False)
    assert strip(other) != strip(first)


def test_outputs_metrics_csv_and_summary_json(tmp_path):
    result = train(TrainConfig(algo="pc-alm", **SMALL), tmp_path / "run", progress=False)
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert lines[0].split(",") == ["epoch", "steps", "train_mse", "train_ce", "train_acc", "test_mse", "test_ce", "test_acc", "cosine_to_bp", "elapsed_s"]
    assert [line.split(",")[:2] for line in lines[1:]] == [["0", "0"], ["1", "22"], ["2", "44"]]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["config"]["algo"] == "pc-alm"
    assert summary["final"]["epoch"] == 2 and 0 < summary["final"]["cosine_to_bp"] <= 1
    assert summary["torch_version"] == torch.__version__ and summary["device"] == "cpu" and summary["wall_time_s"] > 0
    assert TrainResult.from_dict(summary) == result


@pytest.mark.parametrize("algo", ["bp", "pc-alm"])
def test_training_runs_on_the_device_under_test(algo, device):
    # PCALM_TEST_DEVICE (tests/conftest.py): data, model, inference and the optimizer on that
    # device. Its float32 results differ from the CPU's in rounding only (about 1e-7 per
    # operation), so after the 22 optimizer steps of an epoch the test loss agrees to 1e-4
    # relative, while the epoch's training itself moves it by about 9% (checked below).
    on_device = train(TrainConfig(algo=algo, device=str(device), **{**SMALL, "epochs": 1}), progress=False)
    on_cpu = train(TrainConfig(algo=algo, **{**SMALL, "epochs": 1}), progress=False)
    assert on_device.status == "ok" and on_device.device.startswith(device.type)
    start, end = on_cpu.history[0].test_mse, on_cpu.history[-1].test_mse
    assert abs(end - start) > 1e-3 * start
    assert abs(on_device.history[-1].test_mse - end) <= 1e-4 * end


def test_metrics_agree_with_their_definitions():
    result = train(TrainConfig(algo="bp", **SMALL), progress=False)
    initial = result.history[0]
    # At initialisation the read-out is s_out * phi(z) W_L^T: small, so mse is near 1/2 and ce near log 10.
    assert 0.4 < initial.test_mse < 1.2 and abs(initial.test_ce - math.log(10)) < 0.1
    assert all(0 <= m.test_acc <= 1 and m.cosine_to_bp == 1.0 for m in result.history)


def test_a_nan_diverging_step_is_reported_as_diverged(tmp_path):
    # eta = 10 is about 50 / lambda_max: each of the T = 16 activity steps multiplies the error
    # by about 49, so the energy overflows float32 within the first batch.
    result = train(TrainConfig(algo="pc", width=8, depth=8, eta=10.0), tmp_path, progress=False)
    assert result.diverged and "finite" in result.message and "eta=10.0" in result.message
    assert result.steps_done == 0 and result.history == [] and result.final is None
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"
    assert not train(TrainConfig(algo="pc", width=8, depth=8), progress=False).diverged


def test_a_batch_larger_than_the_training_set_is_refused_before_any_output(tmp_path):
    with pytest.raises(ValueError, match="batch_size: 2000 exceeds the 1438 training samples"):
        train(TrainConfig(batch_size=2000, **SMALL), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_dataset_of_another_name_is_refused():
    with pytest.raises(ValueError, match="teacher"):
        train(TrainConfig(**SMALL), progress=False, data=load_dataset("teacher"))


# The digits calibration cell, N = L = 32, relu, paper settings, 40 epochs (880 Adam steps).
# Measured here (seeds 0 / 1 / 2, test accuracy %): BP 92.2 / 93.9 / 95.0, PC 73.3 / 68.5 / 82.5,
# PC-ALM 90.8 / 90.3 / 94.2; cosine to BP after training: PC 0.69 / 0.70 / 0.64, PC-ALM 0.87 / 0.90 / 0.91.
# Tolerances: the test set has 359 digits, so one accuracy at ~92% has a binomial standard
# error of 1.4 points and a paired BP - PC-ALM difference (they disagree on ~5% of digits)
# about 1.2 points. "Within 2 points" is the claim's own tolerance; "clearly behind" is a gap
# of at least 8 points, over 6 standard errors; chance is 10%, "well above" is over 60%.
CELL = dict(width=32, depth=32, activation="relu", epochs=40)


def _cell(seed):
    return {algo: train(TrainConfig(algo=algo, seed=seed, **CELL), progress=False) for algo in ("bp", "pc", "pc-alm")}


def _check_cell(accuracy, cosine):
    assert min(accuracy.values()) > 0.60
    assert accuracy["bp"] - accuracy["pc-alm"] <= 0.02
    assert accuracy["pc-alm"] - accuracy["pc"] >= 0.08
    assert cosine["pc-alm"] > cosine["pc"] + 0.1


def test_deep_narrow_digits_cell_pcalm_matches_bp_and_pc_falls_behind():
    runs = _cell(seed=0)
    assert all(r.status == "ok" and r.steps_done == 880 for r in runs.values())
    _check_cell({a: r.final.test_acc for a, r in runs.items()}, {a: r.final.cosine_to_bp for a, r in runs.items()})


@pytest.mark.full
def test_deep_narrow_digits_cell_over_seeds_0_to_2():
    runs = [_cell(seed) for seed in (0, 1, 2)]
    mean = lambda key, algo: sum(getattr(r[algo].final, key) for r in runs) / len(runs)  # noqa: E731
    _check_cell({a: mean("test_acc", a) for a in runs[0]}, {a: mean("cosine_to_bp", a) for a in runs[0]})


@pytest.mark.parametrize("algo", ["bp", "pc-alm"])
def test_summary_records_the_way_the_steps_took(tmp_path, algo):
    # The tests pin PCALM_FUSED (tests/conftest.py), so the fast path's choice is "forced" (or
    # "no kernels" where they cannot be built): the fused kernels, else the eager ops.
    result = train(TrainConfig(algo=algo, **SMALL), tmp_path / "run", progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["way"] == result.way in {"fused", "eager"}
    assert summary["way_choice"]["way"] == result.way and summary["way_choice"]["source"] in {"forced", "no kernels"}
    older = {k: v for k, v in summary.items() if k not in ("way", "way_choice")}  # a summary.json from before the way was recorded
    assert TrainResult.from_dict(older).way is None
