"""The width x depth grid of the paper (DESIGN section 3, claim C4), resumable.

:func:`run_grid` trains every cell (algo, width, depth, activation, seed) of a
:class:`GridSpec` and appends one row per finished run to ``<out>/cells.csv`` as it goes
(one complete line per write, flushed and synced). Rerunning with the same ``out`` skips
the cells already in ``cells.csv``, so a killed grid loses at most the cell in flight; a
partly written last line is dropped. A diverged run is a row with status "diverged" and NaN
metrics, not an error. The settings shared by all cells and the fingerprint of the code that
trains them (:func:`pcalm.experiments.fingerprint.code_fingerprint`) are kept in ``<out>/grid.json``:
resuming with different ones is refused (:func:`stale` tells beforehand). Each row names the
node that trained it (this machine's name in process; ``<ip>/<node id>`` on Ray) and the model
family (``model``: "residual-mlp" or "conv", the grid's ``base.model``); rows written before that
column existed read as the residual MLP.

The cells run one after another in this process, or, with ``ray``, each as a Ray task on a local
Ray or a cluster (:mod:`pcalm.experiments.grid_ray`); this process still writes every row, once per cell.
A cell whose task raised (a bug, data missing on its node, other code there) gets no row: it
is named in :attr:`GridResult.failed` and runs again on the next call. At the end, ``heatmap_<activation>.png`` shows
the mean test accuracy per algorithm over seeds and the differences BP - PC-ALM and
BP - PC (percentage points, on one colour scale), and ``grid_summary.csv`` the per-cell means.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pcalm.data import load_dataset
from pcalm.experiments.fingerprint import code_fingerprint, source_commit
from pcalm.experiments.grid_cost import REFERENCE_SECONDS_PER_UNIT, cell_cost, in_words
from pcalm.experiments.grid_ray import RayOptions, import_ray, probe_address, ray_cells
from pcalm.experiments.run_memory import check_run_fits
from pcalm.experiments.plotting import Heatmap, plot_heatmaps
from pcalm.runtime.machine_info import cpu_model
from pcalm.experiments.training import ALGOS, TrainConfig, TrainResult, train, write_run_files

PER_CELL = ("algo", "width", "depth", "activation", "seed")
ALGO_TITLES = {"bp": "BP", "pc": "PC", "pc-alm": "PC-ALM"}


@dataclass(frozen=True)
class GridSpec:
    """The grid: every combination of the tuples, each run with ``base``'s other settings;
    ``seeds_per_cell`` holds ((activation, depth, width), seeds) pairs whose cells run those seeds
    instead of ``seeds`` (e.g. more seeds where a judgement is undecided)."""

    widths: tuple[int, ...] = (8, 16, 32, 64, 128)
    depths: tuple[int, ...] = (8, 16, 32, 64, 128)
    activations: tuple[str, ...] = ("linear", "tanh", "relu")
    algos: tuple[str, ...] = ALGOS
    seeds: tuple[int, ...] = (0, 1, 2)
    base: TrainConfig = field(default_factory=TrainConfig)
    seeds_per_cell: tuple[tuple[tuple[str, int, int], tuple[int, ...]], ...] = ()

    def __post_init__(self) -> None:
        for name in ("widths", "depths", "activations", "algos", "seeds"):
            values = tuple(getattr(self, name))
            if not values or len(set(values)) != len(values):
                raise ValueError(f"{name}: need at least one value and no repeats, got {values!r}")
            object.__setattr__(self, name, values)
        pairs = tuple((tuple(cell), tuple(seeds)) for cell, seeds in self.seeds_per_cell)
        for (activation, depth, width), seeds in pairs:
            if activation not in self.activations or depth not in self.depths or width not in self.widths:
                raise ValueError(f"seeds_per_cell: cell {(activation, depth, width)!r} is not in the grid")
            if not seeds or len(set(seeds)) != len(seeds):
                raise ValueError(f"seeds_per_cell: need at least one seed and no repeats for {(activation, depth, width)!r}, got {seeds!r}")
        if len({cell for cell, _ in pairs}) != len(pairs):
            raise ValueError("seeds_per_cell: a cell is named twice")
        object.__setattr__(self, "seeds_per_cell", pairs)
        self.cells()  # validates every cell's config

    def seeds_of(self, activation: str, depth: int, width: int) -> tuple[int, ...]:
        """The seeds the cell (activation, depth, width) runs: its ``seeds_per_cell`` or ``seeds``."""
        return dict(self.seeds_per_cell).get((activation, depth, width), self.seeds)

    def cells(self) -> list[TrainConfig]:
        """Every cell's config, algorithms of one (activation, depth, width, seed) adjacent."""
        return [
            dataclasses.replace(self.base, algo=algo, width=width, depth=depth, activation=activation, seed=seed)
            for activation in self.activations
            for depth in self.depths
            for width in self.widths
            for seed in self.seeds_of(activation, depth, width)
            for algo in self.algos
        ]

    def shared_settings(self) -> dict:
        """The base settings common to all cells that a resumed grid must keep (all but ``download``)."""
        return {k: v for k, v in dataclasses.asdict(self.base).items() if k not in PER_CELL + ("download",)}


def cell_key(cell: "TrainConfig | CellResult") -> tuple:
    """What identifies a cell of the grid: its (algo, width, depth, activation, seed)."""
    return tuple(getattr(cell, name) for name in PER_CELL)


def cell_name(config: TrainConfig) -> str:
    """A cell's name, e.g. ``pc-alm_N8_L3_relu_s0`` (its folder under ``runs/``; ``conv_`` first for the conv model)."""
    family = "" if config.model == "residual-mlp" else f"{config.model}_"
    return f"{family}{config.algo}_N{config.width}_L{config.depth}_{config.activation}_s{config.seed}"


@dataclass
class CellResult:
    """One row of cells.csv: a finished run's key, status and final metrics (NaN if diverged), the
    node, and what a rerun needs to reproduce it bit for bit: the CPU model, the torch thread
    count, the git commit and the code fingerprint (empty / 0 in rows written before they were
    recorded, :data:`RECORDED_LATER`)."""

    algo: str
    width: int
    depth: int
    activation: str
    seed: int
    status: str
    test_acc: float
    test_mse: float
    test_ce: float
    train_acc: float
    train_mse: float
    cosine_to_bp: float
    eta: float
    lambda_max: float
    steps_done: int
    wall_time_s: float
    message: str
    node: str
    model: str = "residual-mlp"
    cpu: str = ""
    threads: int = 0
    commit: str = ""
    code: str = ""
    way: str = ""  # the code its training steps ran (TrainResult.way); "" in rows written before it was recorded

    @property
    def key(self) -> tuple:
        return cell_key(self)

    @classmethod
    def from_run(cls, result: TrainResult, node: str, cpu: str) -> "CellResult":
        c, ok = result.config, not result.diverged
        final = result.final
        metric = lambda name: getattr(final, name) if ok else math.nan  # noqa: E731
        return cls(
            c.algo, c.width, c.depth, c.activation, c.seed, result.status,
            metric("test_acc"), metric("test_mse"), metric("test_ce"), metric("train_acc"), metric("train_mse"), metric("cosine_to_bp"),
            math.nan if result.eta is None else result.eta, math.nan if result.lambda_max is None else result.lambda_max,
            result.steps_done, result.wall_time_s, result.message, node, c.model, cpu, result.threads, source_commit(), code_fingerprint(), result.way or "",
        )

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "CellResult":
        """A row of cells.csv; the columns of :data:`RECORDED_LATER` may be missing (older rows)."""
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        convert = {"int": int, "float": float, "str": str}
        return cls(**{name: convert[types[name]](row[name]) for name in types if name in row})  # a column recorded later and missing: its default


@dataclass
class CellFailure:
    """A cell whose run raised instead of finishing: its name, the node, and the error."""

    cell: str
    node: str
    error: str


@dataclass
class GridResult:
    """All rows of cells.csv after the grid, how many cells this call ran (failed ones included)
    and skipped, the figures, and the cells that failed (no row; they run again on a rerun)."""

    spec: dict
    cells: list[CellResult]
    ran: int
    skipped: int
    figures: list[str]
    failed: list[CellFailure] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A strict-JSON-ready dict: NaN metrics (diverged cells, BP's eta) become None."""
        return _without_nan(dataclasses.asdict(self))


def _without_nan(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(v) for v in value]
    return value


FIELDS = tuple(f.name for f in dataclasses.fields(CellResult))
# Columns added after the first shipped rows (``model``: no column means the residual MLP; ``way``:
# the code the training steps ran, "" where not recorded): a cells.csv without them is still read.
RECORDED_LATER = ("model", "cpu", "threads", "commit", "code", "way")


def _columns(path: Path, header: list[str] | None) -> tuple[str, ...]:
    """The columns of a cells.csv header, refused (ValueError) unless they are this pcalm's, or
    this pcalm's less some of :data:`RECORDED_LATER`, in order."""
    columns = tuple(header or FIELDS)
    if columns != tuple(name for name in FIELDS if name in columns) or any(name not in columns for name in FIELDS if name not in RECORDED_LATER):
        missing = [name for name in FIELDS if name not in columns and name not in RECORDED_LATER]
        raise ValueError(f"{path}: its columns are not this pcalm's (missing: {', '.join(missing) or 'none'}; expected {', '.join(FIELDS)}); it was written by another version: use a new --out")
    return columns


def read_cells(path: Path, repair: bool = True) -> list[CellResult]:
    """The finished rows of a cells.csv; a last line cut short by a kill is dropped (and, with
    ``repair``, cut from the file). A file with other columns (written by another pcalm version)
    is refused with a ValueError; one lacking only :data:`RECORDED_LATER` is read."""
    if not path.exists():
        return []
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        if repair:
            path.write_text(text)
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is not None and _columns(path, reader.fieldnames) != FIELDS:
        cells = [CellResult.from_row(row) for row in reader]
        if repair:  # rewritten with every column (defaults where older rows lack one), so appends line up
            _rewrite(path, cells)
        return cells
    return [CellResult.from_row(row) for row in reader]


def _rewrite(path: Path, cells: list[CellResult]) -> None:
    """Replace ``path`` by ``cells`` in this pcalm's columns, atomically (a kill leaves the old file)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FIELDS)
    writer.writerows([getattr(cell, name) for name in FIELDS] for cell in cells)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(buffer.getvalue())
    os.replace(temporary, path)


def _append(path: Path, cell: CellResult) -> None:
    """Append ``cell``'s row (with the header to a new file; in an older file's columns)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if not path.exists() or path.stat().st_size == 0:
        writer.writerow(FIELDS)
        columns = FIELDS
    else:
        with open(path, newline="") as f:
            columns = _columns(path, next(csv.reader(f), None))
    writer.writerow([getattr(cell, name) for name in columns])
    with open(path, "a", newline="") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())


def _kept_settings(spec: GridSpec) -> dict:
    """What ``<out>/grid.json`` holds: the shared settings and the code's fingerprint."""
    return {**spec.shared_settings(), "code": code_fingerprint()}


def _changed_settings(out: Path, spec: GridSpec) -> list[str]:
    """The kept settings in which ``out``'s grid differs from ``spec`` and the current code (none for a new ``out``)."""
    path = out / "grid.json"
    if not path.exists():
        return []
    previous, settings = json.loads(path.read_text()), _kept_settings(spec)
    return sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))


def stale(out: str | Path, spec: GridSpec) -> bool:
    """Whether ``out`` holds cells run with other shared settings or other code: :func:`run_grid` refuses to resume them."""
    return bool(_changed_settings(Path(out), spec))


def _check_settings(out: Path, spec: GridSpec) -> None:
    changed = _changed_settings(out, spec)
    if changed:
        code = " (code: pcalm's sources changed since those cells ran)" if "code" in changed else ""
        raise ValueError(f"out: {out} holds a grid run with other settings ({', '.join(changed)}){code}; use a new --out or the same settings")
    (out / "grid.json").write_text(json.dumps(_kept_settings(spec), indent=2) + "\n")


def run_grid(spec: GridSpec, out: str | Path, progress: bool = True, keep_runs: bool = True, ray: RayOptions | None = None, threads: int | None = None, curve: bool = False) -> GridResult:
    """Run the cells of ``spec`` missing from ``<out>/cells.csv``, then draw the heatmaps.

    Arguments:
        spec: the grid.
        out: its folder (created; a grid already there is resumed).
        progress: progress bars (and, on Ray, one line per finished cell) on stderr.
        keep_runs: keep each run's metrics.csv and summary.json under ``<out>/runs/<cell>/``.
        ray: None runs the cells one after another in this process; :class:`RayOptions` runs
            each as a Ray task (a local Ray or a cluster), the rows still written here.
        threads: the torch threads of every cell run in this process; None lets
            :func:`pcalm.runtime.threads.choose_threads` pick them per cell from its width and batch
            size. On Ray a cell's task has ``ray.cpus_per_cell`` threads instead.
        curve: evaluate every epoch (each run's metrics.csv a learning curve); by default only
            the initial and the final model (:func:`pcalm.experiments.training.train`'s ``curve``):
            the rows, which hold the final metrics, are the same bit for bit.

    Returns:
        The :class:`GridResult`; its ``failed`` names the cells whose run raised (Ray only).
    """
    out = Path(out)
    cells_path = out / "cells.csv"
    done = {cell.key for cell in read_cells(cells_path)}
    todo = [c for c in spec.cells() if cell_key(c) not in done]
    # Missing data (or a missing ray package) fails here, before anything is written into ``out``.
    if ray is not None and todo:
        import_ray(local=ray.address is None)
        if ray.address is not None:
            probe_address(ray.address)  # no cluster there: one line within seconds
    data = load_dataset(spec.base.dataset, spec.base.data_dir, spec.base.download, spec.base.split_seed) if todo else None
    if ray is None and data is not None:  # every cell before the first runs; on Ray each node checks its own
        for config in todo:
            check_run_fits(config, data.input_dim, data.num_classes, max(len(data.x_train), len(data.x_test)))
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, spec)
    costs = {cell_key(c): cell_cost(c, len(data.x_train), data.input_dim) for c in todo} if todo else {}
    if progress and todo:
        announce_cost(len(todo), sum(costs.values()), ray)
    if ray is None:
        failed = []
        with CostBar(costs, "grid", progress) as bar:
            for config in todo:
                run_dir = out / "runs" / cell_name(config) if keep_runs else None
                _append(cells_path, CellResult.from_run(train(config, run_dir, progress=progress, data=data, threads=threads, curve=curve), platform.node(), cpu_model()))
                bar.finished(cell_key(config))
    else:
        failed = _run_on_ray(todo, ray, out, keep_runs, progress, costs, curve)
    wanted = {cell_key(c) for c in spec.cells()}
    cells = [cell for cell in read_cells(cells_path) if cell.key in wanted]
    figures = [str(p) for p in draw_heatmaps(spec, cells, out)]
    write_summary(spec, cells, out / "grid_summary.csv")
    result = GridResult(dataclasses.asdict(spec), cells, len(todo), len(spec.cells()) - len(todo), figures, failed)
    (out / "grid_result.json").write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    return result


def _run_on_ray(todo: list[TrainConfig], options: RayOptions, out: Path, keep_runs: bool, progress: bool, costs: dict[tuple, float], curve: bool) -> list[CellFailure]:
    """Run ``todo`` as Ray tasks, writing each finished cell's row (once: a cell whose row is
    written is not written again) and, with ``keep_runs``, its run files; return the failures."""
    written, failed = set(), []
    with CostBar(costs, "grid (ray)", progress) as bar:
        for outcome in ray_cells(todo, options, curve):
            key, name = cell_key(outcome.config), cell_name(outcome.config)
            if key in written:
                continue
            if outcome.result is None:
                failed.append(CellFailure(name, outcome.node, outcome.error))
                tqdm.write(f"[grid] {name} FAILED on {outcome.node}: {outcome.error}", file=sys.stderr)
            else:
                written.add(key)
                if keep_runs:
                    write_run_files(outcome.result, out / "runs" / name)
                row = CellResult.from_run(outcome.result, outcome.node, outcome.cpu)
                _append(out / "cells.csv", row)
                if progress:
                    tqdm.write(f"[grid] {name}: {row.status}, test acc {row.test_acc:.4f}, {row.wall_time_s:.1f} s on {row.node}", file=sys.stderr)
            bar.finished(key)
    return failed


# An estimated total above this advises a cluster (--ray ADDRESS).
MANY_HOURS_S = 2 * 3600


def announce_cost(cells: int, cost: float, ray: RayOptions | None) -> None:
    """Print, before the first cell, the estimated compute of the cells to run
    (:mod:`pcalm.experiments.grid_cost`'s reference rate), with the advice to use a cluster when
    it is many hours."""
    seconds = cost * REFERENCE_SECONDS_PER_UNIT
    line = f"[grid] {cells} cells to run: about {in_words(seconds)} of single-thread compute at the reference rate (one Intel Xeon core; other CPUs and loads differ)"
    if seconds > MANY_HOURS_S:
        line += "; that is many hours: --ray ADDRESS spreads the cells over a Ray cluster's nodes" + ("" if ray is not None else " (--ray alone runs one cell per core here)")
    print(line, file=sys.stderr, flush=True)


class CostBar:
    """A tqdm bar over the cells' estimated costs (``costs``: cell key -> units), a context
    manager: its percentage and ETA are weighted by work (with no smoothing tqdm's ETA is
    :func:`pcalm.experiments.grid_cost.eta_seconds`), its postfix counts cells."""

    def __init__(self, costs: dict[tuple, float], desc: str, progress: bool) -> None:
        self.costs, self.done = costs, 0
        fmt = "{desc}: {percentage:3.0f}% of the work |{bar}| [{elapsed}<{remaining}]{postfix}"
        self.bar = tqdm(total=sum(costs.values()) or 1.0, desc=desc, smoothing=0, bar_format=fmt, disable=not progress)
        self.bar.set_postfix_str(f"0/{len(costs)} cells", refresh=False)

    def finished(self, key: tuple) -> None:
        """Count the cell ``key`` as done (its cost added to the bar)."""
        self.done += 1
        self.bar.update(self.costs.get(key, 0.0))
        self.bar.set_postfix_str(f"{self.done}/{len(self.costs)} cells")

    def __enter__(self) -> "CostBar":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def seed_runs(cells: list[CellResult], algo: str, activation: str, depth: int, width: int) -> list[CellResult]:
    """The rows of one (algo, activation, depth, width), one per seed that ran."""
    return [c for c in cells if (c.algo, c.activation, c.depth, c.width) == (algo, activation, depth, width)]


def mean_accuracy(cells: list[CellResult], algo: str, activation: str, depth: int, width: int) -> float:
    """Mean test accuracy over the cell's seeds; NaN when none ran or any diverged."""
    values = [c.test_acc for c in seed_runs(cells, algo, activation, depth, width)]
    return float(np.mean(values)) if values and all(math.isfinite(v) for v in values) else math.nan


def _seeds_in_words(seeds: tuple[int, ...]) -> str:
    """"seed 0", or "mean over seeds 0, 1 and 2"."""
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"mean over seeds {', '.join(map(str, seeds[:-1]))} and {seeds[-1]}"


def draw_heatmaps(spec: GridSpec, cells: list[CellResult], out: Path) -> list[Path]:
    """One PNG per activation: test accuracy (%) per algorithm, then BP - PC-ALM and BP - PC
    (points), the differences on one colour scale symmetric about 0 (red: BP ahead)."""
    paths = []
    rows, cols = [str(d) for d in spec.depths], [str(w) for w in spec.widths]
    for activation in spec.activations:
        table = {
            algo: 100 * np.array([[mean_accuracy(cells, algo, activation, d, w) for w in spec.widths] for d in spec.depths])
            for algo in spec.algos
        }
        common = dict(row_labels=rows, col_labels=cols, xlabel="channels C" if spec.base.model == "conv" else "width N", ylabel="depth L", nan_label="div", fmt="{:.1f}")
        panels = [Heatmap(table[a], title=f"{ALGO_TITLES[a]} test accuracy (%)", vmin=0, vmax=100, **common) for a in spec.algos]
        differences = {other: table["bp"] - table[other] for other in ("pc-alm", "pc") if "bp" in table and other in table}
        finite = [np.abs(d[np.isfinite(d)]) for d in differences.values()]
        span = max((float(a.max()) for a in finite if a.size), default=0.0) or 1.0
        for other, difference in differences.items():
            panels.append(Heatmap(
                difference, title=f"BP - {ALGO_TITLES[other]} (points)", colorbar_label="points; red: BP ahead",
                cmap="RdBu_r", center=0.0, vmin=-span, vmax=span, **common,
            ))
        family = "residual CNN, " if spec.base.model == "conv" else ""
        more = sum(cell[0] == activation for cell, _ in spec.seeds_per_cell)
        suptitle = f"{spec.base.dataset}, {family}{activation}: test accuracy, {_seeds_in_words(tuple(spec.seeds))}" + (f" (more seeds in {more} cells)" if more else "")
        paths.append(plot_heatmaps(panels, out / f"heatmap_{activation}.png", ncols=min(3, len(panels)), suptitle=suptitle))
    return paths


def write_summary(spec: GridSpec, cells: list[CellResult], path: Path) -> None:
    """grid_summary.csv: per (algo, activation, depth, width), runs, diverged runs, and means over the finite runs."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["algo", "activation", "depth", "width", "runs", "diverged", "test_acc_mean", "test_acc_std", "cosine_to_bp_mean"])
        for algo in spec.algos:
            for activation in spec.activations:
                for depth in spec.depths:
                    for width in spec.widths:
                        group = seed_runs(cells, algo, activation, depth, width)
                        finite = [c for c in group if c.status == "ok"]
                        acc = [c.test_acc for c in finite]
                        cos = [c.cosine_to_bp for c in finite]
                        writer.writerow([
                            algo, activation, depth, width, len(group), len(group) - len(finite),
                            np.mean(acc) if acc else math.nan, np.std(acc) if acc else math.nan, np.mean(cos) if cos else math.nan,
                        ])
