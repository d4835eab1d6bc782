"""Train the paper's residual MLP, or the residual CNN of :mod:`pcalm.models.conv` (``model="conv"``,
width = channels), with BP, PC or PC-ALM (DESIGN section 3).

Defaults follow the paper: Adam with lr = 1e-3 * sqrt(N / L), batch 64, one-hot MSE targets,
T = 2L, rho = 1, alpha = 1, one epoch. The model is initialised from ``seed`` and the
mini-batch order is drawn from (``seed``, epoch), so a run is a function of its config and
its torch thread count: on the CPU the same config with the same count gives the same numbers
bit for bit. The count is :mod:`pcalm.runtime.threads`' rule for the config's width and batch size
(a function of the shape and the machine's cores, not of its load) unless ``train(threads=)``
gives one; ``summary.json`` records it.

Activity step rule (``eta="auto"``): eta = 1 / lambda_max, with lambda_max the largest
eigenvalue of the per-sample activity Hessian of L_rho (rho = 1 for PC) of the *initial*
model on the *probe batch* (the first ``batch_size`` training rows), computed once per run
(Lanczos, :func:`pcalm.activity_lambda_max`) and then held fixed, as a number, for every step:
the run resolves its algorithm once (:func:`pcalm.engine.schedule.resolve`) and every step runs that
schedule.

Metrics: ``mse`` is the training loss 1/(2n) sum ||y - y_hat||^2 (DESIGN section 1), ``ce``
the cross-entropy of softmax(y_hat), ``acc`` the accuracy of argmax y_hat, all of the
feedforward output (the prediction of every method) over a whole split. ``cosine_to_bp``
is the gradient cosine of the run's method to BP's (autograd BP, the independent reference) on
the probe batch with the current weights.
A run whose activities or metrics stop being finite ends early with status ``"diverged"``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from pcalm.models.activations import get_activation
from pcalm.engine.algorithms import BP, PC, PCALM, Algorithm
from pcalm.runtime.choices import ALGOS, DTYPE_NAMES, IMAGE_DATASETS, MODELS
from pcalm.data import DATASETS, Dataset, batch_order, load_dataset
from pcalm.engine.grads import train_step
from pcalm.engine.inference import NonFiniteActivityError, infer
from pcalm.engine.metrics import gradient_cosine
from pcalm.models import LayeredModel, ResidualCNN, ResidualMLP
from pcalm.models.conv import image_shape
from pcalm.engine.schedule import Schedule, resolve
from pcalm.engine.stacked import choice
from pcalm.runtime.threads import ThreadChoice, choose_threads, run_threads
from pcalm.engine.validation import check_device
from pcalm.experiments.run_memory import check_run_fits

Tensor = torch.Tensor
DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}
METRIC_FIELDS = ("epoch", "steps", "train_mse", "train_ce", "train_acc", "test_mse", "test_ce", "test_acc", "cosine_to_bp", "elapsed_s")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``alpha`` and ``rho`` apply to PC-ALM only (PC has rho = 1, alpha = 0);
    ``steps`` is T (None: 2L); ``lr`` None means 1e-3 * sqrt(width / depth). ``model``: "residual-mlp"
    (the paper's, width N) or "conv" (:class:`pcalm.ResidualCNN`, width = channels C, on the
    image data sets)."""

    algo: str = "pc-alm"
    dataset: str = "digits"
    width: int = 32
    depth: int = 32
    activation: str = "relu"
    epochs: int = 1
    batch_size: int = 64
    seed: int = 0
    eta: float | str = "auto"
    alpha: float = 1.0
    rho: float = 1.0
    steps: int | None = None
    lr: float | None = None
    device: str = "cpu"
    dtype: str = "float32"
    data_dir: str | None = None
    download: bool = False
    split_seed: int = 0
    model: str = "residual-mlp"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model: expected one of {list(MODELS)}, got {self.model!r}")
        if self.model == "conv" and self.dataset not in IMAGE_DATASETS:
            raise ValueError(f"model: the conv model needs an image data set ({', '.join(IMAGE_DATASETS)}), got dataset {self.dataset!r}")
        if self.algo not in ALGOS:
            raise ValueError(f"algo: expected one of {list(ALGOS)}, got {self.algo!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset: expected one of {list(DATASETS)}, got {self.dataset!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {list(DTYPES)}, got {self.dtype!r}")
        get_activation(self.activation)
        for name, least in (("width", 1), ("depth", 2), ("epochs", 1), ("batch_size", 1), ("split_seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name}: must be an integer >= {least}, got {value!r}")
        if self.lr is not None and (not math.isfinite(self.lr) or self.lr <= 0):
            raise ValueError(f"lr: must be a positive finite number, got {self.lr!r}")
        self.algorithm()  # validates eta, alpha, rho and steps
        largest = torch.finfo(DTYPES[self.dtype]).max
        for name in ("eta", "alpha", "rho"):
            value = getattr(self, name)
            if isinstance(value, float) and abs(value) > largest:
                raise ValueError(f"{name}: {value:g} does not fit in {self.dtype} (at most {largest:g})")
        check_device(self.device)

    def learning_rate(self) -> float:
        """Adam's learning rate: ``lr`` or the paper's 1e-3 * sqrt(N / L)."""
        return self.lr if self.lr is not None else 1e-3 * math.sqrt(self.width / self.depth)

    def algorithm(self) -> Algorithm:
        """The algorithm config (eta may be "auto"; :func:`pcalm.engine.schedule.resolve` resolves it)."""
        if self.algo == "bp":
            return BP()
        if self.algo == "pc":
            return PC(eta=self.eta, steps=self.steps)
        return PCALM(eta=self.eta, alpha=self.alpha, rho=self.rho, steps=self.steps)


@dataclass
class EpochMetrics:
    """Metrics after ``epoch`` epochs (0: the initial model) and ``steps`` Adam steps."""

    epoch: int
    steps: int
    train_mse: float
    train_ce: float
    train_acc: float
    test_mse: float
    test_ce: float
    test_acc: float
    cosine_to_bp: float
    elapsed_s: float

    def finite(self) -> bool:
        return all(math.isfinite(getattr(self, name)) for name in METRIC_FIELDS)


@dataclass
class TrainResult:
    """What a run produced. ``status`` is "ok", "diverged" or "interrupted" (then ``message`` says why and
    ``history`` stops at the last finite epoch). ``eta`` is the activity step used (None for BP),
    ``lambda_max`` the eigenvalue that set it (None when eta was given). ``threads`` is the torch
    thread count the run had, ``thread_choice`` why (:func:`pcalm.runtime.threads.choose_threads`).
    ``way`` is the code the training steps ran ("fused" or "eager" on the fast path, "autograd",
    "reference"), ``way_choice`` the fast path's choice for the shape and why
    (:class:`pcalm.engine.stacked.choice.Way`; None off the fast path)."""

    config: TrainConfig
    status: str
    message: str
    eta: float | None
    lambda_max: float | None
    lr: float
    steps_done: int
    history: list[EpochMetrics] = field(default_factory=list)
    wall_time_s: float = 0.0
    torch_version: str = torch.__version__
    device: str = "cpu"
    threads: int = 1
    thread_choice: ThreadChoice | None = None
    way: str | None = None
    way_choice: dict | None = None

    @property
    def final(self) -> EpochMetrics | None:
        """The metrics of the last finished epoch (epoch 0: the initial model; None if even it diverged)."""
        return self.history[-1] if self.history else None

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    def to_dict(self) -> dict:
        """A JSON-ready dict: every field, plus ``final``."""
        data = dataclasses.asdict(self)
        data["final"] = None if self.final is None else dataclasses.asdict(self.final)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainResult":
        fields = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in fields}
        data["config"] = TrainConfig(**data["config"])
        data["history"] = [EpochMetrics(**m) for m in data["history"]]
        if data.get("thread_choice") is not None:
            data["thread_choice"] = ThreadChoice(**data["thread_choice"])
        return cls(**data)


@torch.no_grad()
def evaluate(model: LayeredModel, x: Tensor, y: Tensor, chunk: int = 4096) -> tuple[float, float, float]:
    """(mse, ce, acc) of the feedforward output on (x, y); mse = 1/(2n) sum ||y - y_hat||^2."""
    squared, ce, correct = 0.0, 0.0, 0
    for start in range(0, len(x), chunk):
        out, target = model(x[start: start + chunk]), y[start: start + chunk]
        labels = target.argmax(dim=1)
        squared += float(((target - out) ** 2).sum())
        ce += float(F.cross_entropy(out.double(), labels, reduction="sum"))
        correct += int((out.argmax(dim=1) == labels).sum())
    n = len(x)
    return 0.5 * squared / n, ce / n, correct / n


def _way_choice(model: LayeredModel, algo: BP | Schedule, way: str) -> dict | None:
    """The fast path's choice record for the run's shape (None where the step ran off it)."""
    if way not in choice.WAYS:
        return None
    chosen = choice.choose("bp" if isinstance(algo, BP) else "inference", model.width, model.depth, model.device, None)
    return None if chosen is None else chosen.as_dict()


def _cosine_to_bp(model: LayeredModel, x: Tensor, y: Tensor, algo: BP | Schedule) -> float:
    if isinstance(algo, BP):
        return 1.0
    reference = infer(model, x, y, BP(fast=False)).flat_grads()  # autograd: the independent reference
    return gradient_cosine(infer(model, x, y, algo).flat_grads(), reference)


def build_model(config: TrainConfig, data: Dataset, dtype: torch.dtype) -> LayeredModel:
    """The run's initial model, from ``config.seed``: the residual MLP (width N, depth L) or the
    residual CNN (C = width channels, L = depth layers) on ``data``'s images."""
    if config.model == "conv":
        return ResidualCNN(image_shape(data.input_dim), config.width, config.depth, data.num_classes, config.activation, seed=config.seed, dtype=dtype).to(config.device)
    return ResidualMLP(data.input_dim, config.width, config.depth, data.num_classes, config.activation, seed=config.seed, dtype=dtype).to(config.device)


def _measure(model: LayeredModel, data: Dataset, probe: tuple[Tensor, Tensor], algo: BP | Schedule, epoch: int, steps: int, start: float) -> EpochMetrics:
    """Metrics of the current model (raises NonFiniteActivityError if the cosine's inference diverges)."""
    train = evaluate(model, data.x_train, data.y_train)
    test = evaluate(model, data.x_test, data.y_test)
    cosine = _cosine_to_bp(model, *probe, algo)
    return EpochMetrics(epoch, steps, *train, *test, cosine, time.perf_counter() - start)


class _RunFiles:
    """metrics.csv (one row per epoch, written as it goes) and summary.json in ``out``."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            with open(out / "metrics.csv", "w", newline="") as f:
                csv.writer(f).writerow(METRIC_FIELDS)

    def epoch(self, metrics: EpochMetrics) -> None:
        if self.out is not None:
            with open(self.out / "metrics.csv", "a", newline="") as f:
                csv.writer(f).writerow([getattr(metrics, name) for name in METRIC_FIELDS])

    def summary(self, result: TrainResult) -> None:
        if self.out is not None:
            (self.out / "summary.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")


def write_run_files(result: TrainResult, out: str | Path) -> None:
    """Write a finished run's ``metrics.csv`` and ``summary.json`` into ``out``, as :func:`train`
    writes them while it runs (for runs trained elsewhere, e.g. in a Ray task)."""
    files = _RunFiles(Path(out))
    for metrics in result.history:
        files.epoch(metrics)
    files.summary(result)


def train(config: TrainConfig, out: str | Path | None = None, progress: bool = True, data: Dataset | None = None, threads: int | None = None, curve: bool = True) -> TrainResult:
    """Run ``config``; write ``metrics.csv`` and ``summary.json`` into ``out`` when given.

    ``curve``: evaluate the model (train and test metrics, cosine to BP) after every epoch; when
    False, only the initial and the final model, and an epoch whose steps' losses were not all
    finite (so a diverging run still ends at the epoch it would end at with the curve, unless
    only the evaluation overflows). The evaluation changes neither the weights nor the batches:
    the final metrics are the same bit for bit either way.

    ``data`` reuses an already loaded dataset (it must be ``config.dataset``). ``threads``: the
    run's torch thread count, and that of NumPy's and SciPy's BLAS
    (:func:`pcalm.runtime.threads.run_threads`); None lets :func:`pcalm.runtime.threads.choose_threads` pick it
    from the width and batch size (one thread for small nets). The counts before the run are
    restored after it. Raises DataNotFoundError when the dataset's files are missing; divergence
    is not an error but a result with status "diverged". A KeyboardInterrupt writes summary.json
    with status "interrupted" before it propagates.
    """
    choice = choose_threads(config.width, config.batch_size, threads)
    with run_threads(choice.threads):
        return _train(config, None if out is None else Path(out), progress, data, choice, curve)


def _train(config: TrainConfig, out: Path | None, progress: bool, data: Dataset | None, choice: ThreadChoice, curve: bool) -> TrainResult:
    start = time.perf_counter()
    dtype = DTYPES[config.dtype]
    data = (data if data is not None else load_dataset(config.dataset, config.data_dir, config.download, config.split_seed)).to(config.device, dtype)
    if data.name != config.dataset:
        raise ValueError(f"data: got dataset {data.name!r} but the config asks for {config.dataset!r}")
    if config.batch_size > len(data.x_train):
        raise ValueError(f"batch_size: {config.batch_size} exceeds the {len(data.x_train)} training samples of {data.name}")
    check_run_fits(config, data.input_dim, data.num_classes, max(len(data.x_train), len(data.x_test)))  # before the model is built
    model = build_model(config, data, dtype)
    probe = (data.x_train[: config.batch_size], data.y_train[: config.batch_size])
    method = config.algorithm()
    algo: BP | Schedule = method if isinstance(method, BP) else resolve(method, model, *probe)
    eta, lambda_max = (None, None) if isinstance(algo, BP) else (algo.eta, algo.lambda_max)
    files = _RunFiles(out)  # after eta's resolution, which can refuse the settings
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate())
    result = TrainResult(config, "ok", "", eta, lambda_max, config.learning_rate(), 0, device=str(model.device), threads=torch.get_num_threads(), thread_choice=choice)

    def record(metrics: EpochMetrics) -> None:
        if not metrics.finite():
            raise NonFiniteActivityError(f"metrics are not finite: {metrics}")
        result.history.append(metrics)
        files.epoch(metrics)

    batches_per_epoch = len(data.x_train) // config.batch_size
    bar = tqdm(total=config.epochs * batches_per_epoch, desc=f"{config.algo} N={config.width} L={config.depth}", disable=not progress, leave=False)
    running, stage = None, "the initial model"
    try:
        record(_measure(model, data, probe, algo, 0, 0, start))
        for epoch in range(1, config.epochs + 1):
            finite = True
            for rows in batch_order(len(data.x_train), config.batch_size, config.seed, epoch):
                stage = f"Adam step {result.steps_done + 1}"
                rows = rows.to(config.device)
                step = train_step(model, optimizer, data.x_train[rows], data.y_train[rows], algo)
                if result.way is None:
                    result.way, result.way_choice = step.way, _way_choice(model, algo, step.way)
                result.steps_done += 1
                loss = float(step.energies[0])
                finite = finite and math.isfinite(loss)
                running = loss if running is None else 0.95 * running + 0.05 * loss
                bar.update()
                bar.set_postfix(loss=f"{running:.4f}", refresh=False)
            if curve or epoch == config.epochs or not finite:
                stage = f"the evaluation after epoch {epoch}"
                record(_measure(model, data, probe, algo, epoch, result.steps_done, start))
    except NonFiniteActivityError as error:
        result.status, result.message = "diverged", f"{stage}: {error}"
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM under pcalm.commands.cli: summary.json says how far it got
        result.status, result.message = "interrupted", f"interrupted in {stage}"
        result.wall_time_s = time.perf_counter() - start
        files.summary(result)
        raise
    finally:
        bar.close()
    result.wall_time_s = time.perf_counter() - start
    files.summary(result)
    return result
