"""The one plotting helper: PNG figures with matplotlib's Agg backend (no display needed).

Two figure kinds, each taking plain arrays and writing one PNG:

- :func:`plot_heatmaps`: one or more :class:`Heatmap` panels side by side (NaN cells are
  drawn grey and labelled with the panel's ``nan_label``, e.g. "div" for a diverged run);
- :func:`plot_lines`: one or more :class:`Line` series on shared axes, with optional
  horizontal :class:`Threshold` lines (a criterion's bound) and a shaded :class:`Band` of x
  (e.g. the range a line was fitted over).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402


@dataclass
class Heatmap:
    """One heatmap panel: ``values[i, j]`` is drawn at row ``row_labels[i]``, column ``col_labels[j]``.

    ``center``: when given, a diverging colour map symmetric about it (for differences);
    ``annotate``: write each cell's value in it (off for large maps, whose tick labels are
    then thinned to about ten per axis);
    ``vmin``/``vmax`` fix the colour range (default: the finite values' range);
    ``labels``: the text of each cell instead of ``fmt`` of its value (e.g. an interval and a verdict).
    """

    values: Sequence[Sequence[float]]
    row_labels: Sequence[str]
    col_labels: Sequence[str]
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    colorbar_label: str = ""
    fmt: str = "{:.2f}"
    cmap: str = "viridis"
    center: float | None = None
    vmin: float | None = None
    vmax: float | None = None
    nan_label: str = ""
    annotate: bool = True
    labels: Sequence[Sequence[str]] | None = None


@dataclass
class Line:
    """One line: y against x, with a legend label, optional error band ``y_err``, matplotlib
    format ``style`` and ``colour`` (default: the next of the colour cycle)."""

    x: Sequence[float]
    y: Sequence[float]
    label: str = ""
    y_err: Sequence[float] | None = None
    style: str = "-o"
    colour: str | None = None


@dataclass
class Threshold:
    """A horizontal line at ``y``: the bound a criterion judges a curve against."""

    y: float
    label: str
    colour: str = "black"


@dataclass
class Band:
    """A shaded range ``low <= x <= high`` (e.g. the range a line was fitted over)."""

    low: float
    high: float
    label: str


def _colour_range(panel: Heatmap, values: np.ndarray) -> tuple[float, float, str]:
    finite = values[np.isfinite(values)]
    low = panel.vmin if panel.vmin is not None else (float(finite.min()) if finite.size else 0.0)
    high = panel.vmax if panel.vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if panel.center is not None:
        span = max(abs(low - panel.center), abs(high - panel.center)) or 1.0
        return panel.center - span, panel.center + span, "RdBu" if panel.cmap == "viridis" else panel.cmap
    return low, high if high > low else low + 1.0, panel.cmap


def _text_colour(colours: matplotlib.colors.Colormap, value: float, low: float, high: float) -> str:
    """White on dark cells, black on light ones (and on NaN cells, drawn light grey)."""
    if not np.isfinite(value):
        return "black"
    r, g, b, _ = colours((value - low) / (high - low))
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


def plot_heatmaps(panels: Sequence[Heatmap], path: str | Path, ncols: int | None = None, suptitle: str = "") -> Path:
    """Draw ``panels`` in a grid of ``ncols`` columns (default: one row) and save a PNG at ``path``."""
    if not panels:
        raise ValueError("panels: need at least one heatmap")
    ncols = ncols or len(panels)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, panel in zip(axes.flat, panels):
        values = np.asarray(panel.values, dtype=float)
        if values.shape != (len(panel.row_labels), len(panel.col_labels)):
            raise ValueError(f"heatmap {panel.title!r}: values of shape {values.shape} do not match {len(panel.row_labels)} row and {len(panel.col_labels)} column labels")
        low, high, cmap = _colour_range(panel, values)
        colours = plt.get_cmap(cmap).with_extremes(bad="lightgrey")
        image = ax.imshow(np.ma.masked_invalid(values), cmap=colours, vmin=low, vmax=high, origin="lower", aspect="auto")
        _set_ticks(ax.set_xticks, panel.col_labels, thin=not panel.annotate)
        _set_ticks(ax.set_yticks, panel.row_labels, thin=not panel.annotate)
        ax.set_title(panel.title)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        if panel.labels is not None and np.shape(np.asarray(panel.labels, dtype=object)) != values.shape:
            raise ValueError(f"heatmap {panel.title!r}: labels do not match the values' shape {values.shape}")
        for (i, j), value in np.ndenumerate(values if panel.annotate else np.empty((0, 0))):
            text = panel.labels[i][j] if panel.labels is not None else (panel.fmt.format(value) if np.isfinite(value) else panel.nan_label)
            ax.text(j, i, text, ha="center", va="center", fontsize=8 if panel.labels is None else 6, color=_text_colour(colours, value, low, high))
        fig.colorbar(image, ax=ax, label=panel.colorbar_label)
    if suptitle:
        fig.suptitle(suptitle)
    return _save(fig, path)


def _set_ticks(setter, labels: Sequence, thin: bool) -> None:
    """Label every cell, or (``thin``) about ten evenly spaced ones."""
    stride = max(1, len(labels) // 10) if thin else 1
    positions = range(0, len(labels), stride)
    setter(list(positions), [str(labels[i]) for i in positions])


def plot_lines(
    lines: Sequence[Line], path: str | Path, title: str = "", xlabel: str = "", ylabel: str = "", logx: bool = False, logy: bool = False,
    thresholds: Sequence[Threshold] = (), band: Band | None = None,
) -> Path:
    """Draw ``lines`` on one pair of axes, with ``thresholds`` as dotted horizontal lines and
    ``band`` shaded, and save a PNG at ``path``."""
    if not lines:
        raise ValueError("lines: need at least one line")
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    if band is not None:
        ax.axvspan(band.low, band.high, color="grey", alpha=0.15, label=band.label)
    for threshold in thresholds:
        ax.axhline(threshold.y, color=threshold.colour, linestyle=":", linewidth=1.2, label=threshold.label)
    for line in lines:
        if len(line.x) != len(line.y):
            raise ValueError(f"line {line.label!r}: {len(line.x)} x values but {len(line.y)} y values")
        colour = {} if line.colour is None else {"color": line.colour}  # None: the style's colour or the cycle's
        (drawn,) = ax.plot(line.x, line.y, line.style, label=line.label or None, markersize=4, **colour)
        if line.y_err is not None:
            y, err = np.asarray(line.y, dtype=float), np.asarray(line.y_err, dtype=float)
            ax.fill_between(line.x, y - err, y + err, alpha=0.2, color=drawn.get_color())
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logx:
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis, [v for line in lines for v in line.x])
    if logy:
        ax.set_yscale("log")
    if any(line.label for line in lines) or thresholds or band is not None:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _plain_log_ticks(axis: matplotlib.axis.Axis, values: Sequence[float]) -> None:
    """Over less than two decades, label a log axis at powers of 2 in plain numbers (4, 8, 16)
    instead of matplotlib's overlapping minor labels (3x10^1, 4x10^1)."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) < 100:
        axis.set_major_locator(matplotlib.ticker.LogLocator(base=2))
        axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
