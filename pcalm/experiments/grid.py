"""The width x depth grid of the paper (DESIGN section 3, claim C4), resumable.

:func:`run_grid` trains every cell (algo, width, depth, activation, seed) of a
:class:`GridSpec` and appends one row per finished run to ``<out>/cells.csv`` as it goes
(one complete line per write, flushed and synced). Rerunning with the same ``out`` skips
the cells already in ``cells.csv``, so a killed grid loses at most the cell in flight; a
partly written last line is dropped. A diverged run is a row with status "diverged" and NaN
metrics, not an error. The settings shared by all cells and the fingerprint of the code that
trains them (:func:`pcalm.experiments.fingerprint.code_fingerprint`) are kept in ``<out>/grid.json``:
resuming with different ones is refused (:func:`stale` tells beforehand). Each row names the
node that trained it (this machine's name in process; ``<ip>/<node id>`` on Ray).

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
from pcalm.experiments.fingerprint import code_fingerprint
from pcalm.experiments.grid_ray import RayOptions, import_ray, ray_cells
from pcalm.experiments.plotting import Heatmap, plot_heatmaps
from pcalm.experiments.training import ALGOS, TrainConfig, TrainResult, train, write_run_files

PER_CELL = ("algo", "width", "depth", "activation", "seed")
ALGO_TITLES = {"bp": "BP", "pc": "PC", "pc-alm": "PC-ALM"}


@dataclass(frozen=True)
class GridSpec:
    """The grid: every combination of the tuples, each run with ``base``'s other settings."""

    widths: tuple[int, ...] = (8, 16, 32, 64, 128)
    depths: tuple[int, ...] = (8, 16, 32, 64, 128)
    activations: tuple[str, ...] = ("linear", "tanh", "relu")
    algos: tuple[str, ...] = ALGOS
    seeds: tuple[int, ...] = (0, 1, 2)
    base: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        for name in ("widths", "depths", "activations", "algos", "seeds"):
            values = tuple(getattr(self, name))
            if not values or len(set(values)) != len(values):
                raise ValueError(f"{name}: need at least one value and no repeats, got {values!r}")
            object.__setattr__(self, name, values)
        self.cells()  # validates every cell's config

    def cells(self) -> list[TrainConfig]:
        """Every cell's config, algorithms of one (activation, depth, width, seed) adjacent."""
        return [
            dataclasses.replace(self.base, algo=algo, width=width, depth=depth, activation=activation, seed=seed)
            for activation in self.activations
            for depth in self.depths
            for width in self.widths
            for seed in self.seeds
            for algo in self.algos
        ]

    def shared_settings(self) -> dict:
        """The base settings common to all cells that a resumed grid must keep (all but ``download``)."""
        return {k: v for k, v in dataclasses.asdict(self.base).items() if k not in PER_CELL + ("download",)}


def cell_key(cell: "TrainConfig | CellResult") -> tuple:
    """What identifies a cell of the grid: its (algo, width, depth, activation, seed)."""
    return tuple(getattr(cell, name) for name in PER_CELL)


def cell_name(config: TrainConfig) -> str:
    """A cell's name, e.g. ``pc-alm_N8_L3_relu_s0`` (its folder under ``runs/``)."""
    return f"{config.algo}_N{config.width}_L{config.depth}_{config.activation}_s{config.seed}"


@dataclass
class CellResult:
    """One row of cells.csv: a finished run's key, status and final metrics (NaN if diverged)."""

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
    way: str = ""  # the code its training steps ran (TrainResult.way); "" in rows written before it was recorded

    @property
    def key(self) -> tuple:
        return cell_key(self)

    @classmethod
    def from_run(cls, result: TrainResult, node: str) -> "CellResult":
        c, ok = result.config, not result.diverged
        final = result.final
        metric = lambda name: getattr(final, name) if ok else math.nan  # noqa: E731
        return cls(
            c.algo, c.width, c.depth, c.activation, c.seed, result.status,
            metric("test_acc"), metric("test_mse"), metric("test_ce"), metric("train_acc"), metric("train_mse"), metric("cosine_to_bp"),
            math.nan if result.eta is None else result.eta, math.nan if result.lambda_max is None else result.lambda_max,
            result.steps_done, result.wall_time_s, result.message, node, result.way or "",
        )

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "CellResult":
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        convert = {"int": int, "float": float, "str": str}
        return cls(**{name: convert[types[name]](row[name]) for name in types if name in row or name not in ADDED})


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
ADDED = ("way",)  # columns added at the end since cells.csv was first written: older files read without them


def read_cells(path: Path) -> list[CellResult]:
    """The finished rows of a cells.csv; a last line cut short by a kill is dropped from the file.
    A file with other columns (written by another pcalm version) is refused with a ValueError."""
    if not path.exists():
        return []
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        path.write_text(text)
    reader = csv.DictReader(io.StringIO(text))
    older = tuple(name for name in FIELDS if name not in ADDED)
    if reader.fieldnames is not None and tuple(reader.fieldnames) == older:  # rewritten with the new columns, so appends line up
        cells = [CellResult.from_row(row) for row in reader]
        path.write_text("")
        for cell in cells:
            _append(path, cell)
        return cells
    if reader.fieldnames is not None and tuple(reader.fieldnames) != FIELDS:
        missing = [name for name in FIELDS if name not in reader.fieldnames]
        raise ValueError(f"{path}: its columns are not this pcalm's (missing: {', '.join(missing) or 'none'}; expected {', '.join(FIELDS)}); it was written by another version: use a new --out")
    return [CellResult.from_row(row) for row in reader]


def _append(path: Path, cell: CellResult) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if not path.exists() or path.stat().st_size == 0:
        writer.writerow(FIELDS)
    writer.writerow([getattr(cell, name) for name in FIELDS])
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


def run_grid(spec: GridSpec, out: str | Path, progress: bool = True, keep_runs: bool = True, ray: RayOptions | None = None, threads: int | None = None) -> GridResult:
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
    data = load_dataset(spec.base.dataset, spec.base.data_dir, spec.base.download, spec.base.split_seed) if todo else None
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, spec)
    failed = []
    if ray is None:
        for config in tqdm(todo, desc="grid", unit="cell", disable=not progress):
            run_dir = out / "runs" / cell_name(config) if keep_runs else None
            _append(cells_path, CellResult.from_run(train(config, run_dir, progress=progress, data=data, threads=threads), platform.node()))
    else:
        failed = _run_on_ray(todo, ray, out, keep_runs, progress)
    wanted = {cell_key(c) for c in spec.cells()}
    cells = [cell for cell in read_cells(cells_path) if cell.key in wanted]
    figures = [str(p) for p in draw_heatmaps(spec, cells, out)]
    write_summary(spec, cells, out / "grid_summary.csv")
    result = GridResult(dataclasses.asdict(spec), cells, len(todo), len(spec.cells()) - len(todo), figures, failed)
    (out / "grid_result.json").write_text(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    return result


def _run_on_ray(todo: list[TrainConfig], options: RayOptions, out: Path, keep_runs: bool, progress: bool) -> list[CellFailure]:
    """Run ``todo`` as Ray tasks, writing each finished cell's row (once: a cell whose row is
    written is not written again) and, with ``keep_runs``, its run files; return the failures."""
    written, failed = set(), []
    with tqdm(total=len(todo), desc="grid (ray)", unit="cell", disable=not progress) as bar:
        for outcome in ray_cells(todo, options):
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
                row = CellResult.from_run(outcome.result, outcome.node)
                _append(out / "cells.csv", row)
                if progress:
                    tqdm.write(f"[grid] {name}: {row.status}, test acc {row.test_acc:.4f}, {row.wall_time_s:.1f} s on {row.node}", file=sys.stderr)
            bar.update()
    return failed


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
        common = dict(row_labels=rows, col_labels=cols, xlabel="width N", ylabel="depth L", nan_label="div", fmt="{:.1f}")
        panels = [Heatmap(table[a], title=f"{ALGO_TITLES[a]} test accuracy (%)", vmin=0, vmax=100, **common) for a in spec.algos]
        differences = {other: table["bp"] - table[other] for other in ("pc-alm", "pc") if "bp" in table and other in table}
        finite = [np.abs(d[np.isfinite(d)]) for d in differences.values()]
        span = max((float(a.max()) for a in finite if a.size), default=0.0) or 1.0
        for other, difference in differences.items():
            panels.append(Heatmap(
                difference, title=f"BP - {ALGO_TITLES[other]} (points)", colorbar_label="points; red: BP ahead",
                cmap="RdBu_r", center=0.0, vmin=-span, vmax=span, **common,
            ))
        suptitle = f"{spec.base.dataset}, {activation}: test accuracy, {_seeds_in_words(tuple(spec.seeds))}"
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
