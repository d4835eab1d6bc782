"""Timing one gradient step of BP, PC and PC-ALM on the residual CNN of :mod:`pcalm.models.conv`
(``pcalm bench --model conv``).

As for the residual MLP (:mod:`pcalm.experiments.bench`): the step is ``infer(model, x, y,
algo)`` with T = 2L, k = 1, a fixed eta and float32; the algorithms interleave round by round and
each figure is a median. PC and PC-ALM both run the reference loop of
:mod:`pcalm.engine.inference` (the conv model has no fast path): one prediction pass, one
vector-Jacobian product per layer and activity step, batched over the samples (no Python loop
over them), so PC-ALM's extra cost over PC is its dual steps and effective errors, elementwise.
The target is PC-ALM / PC <= 1.10.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Callable

import torch
from tqdm.auto import tqdm

from pcalm.engine.algorithms import BP, PC, PCALM
from pcalm.engine.inference import infer
from pcalm.experiments.bench import machine, peak_memory_mib, time_interleaved
from pcalm.models.conv import ResidualCNN

OUTPUT_DIM, ETA = 10, 0.2
CONV_QUICK_SHAPES = ((8, 16, 64),)
CONV_FULL_SHAPES = tuple((depth, channels, 64) for depth in (4, 8, 16) for channels in (8, 16, 32))
TARGET_PCALM_OVER_PC = 1.10


@dataclass(frozen=True)
class ConvShapeResult:
    """The figures of one (depth, channels, batch, image side) shape; times in ms, memory in MiB."""

    depth: int
    channels: int
    batch: int
    image: int
    steps: int
    bp_ms: float
    pc_ms: float
    pcalm_ms: float
    pcalm_over_pc: float
    pcalm_over_bp: float
    pcalm_peak_mib: float
    bp_peak_mib: float


def bench_conv_shape(depth: int, channels: int, batch: int, image: int, device: torch.device, warmup: int = 2, repeats: int = 7, seed: int = 0) -> ConvShapeResult:
    """Time BP, PC and PC-ALM (T = 2L) on one residual CNN of ``image`` x ``image`` grey inputs."""
    model = ResidualCNN((1, image, image), channels, depth, OUTPUT_DIM, "relu", seed=seed).to(device)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, image * image, generator=generator).to(device)
    y = torch.nn.functional.one_hot(torch.randint(OUTPUT_DIM, (batch,), generator=generator), OUTPUT_DIM).float().to(device)
    steps = 2 * depth
    runs: dict[str, Callable[[], object]] = {
        "bp": lambda: infer(model, x, y, BP()),
        "pc": lambda: infer(model, x, y, PC(eta=ETA, steps=steps)),
        "pcalm": lambda: infer(model, x, y, PCALM(eta=ETA, steps=steps)),
    }
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    ms = time_interleaved(runs, sync, warmup, repeats)
    return ConvShapeResult(
        depth, channels, batch, image, steps, ms["bp"], ms["pc"], ms["pcalm"], ms["pcalm"] / ms["pc"], ms["pcalm"] / ms["bp"],
        peak_memory_mib(runs["pcalm"], device), peak_memory_mib(runs["bp"], device),
    )


def run_conv_bench(shapes: tuple[tuple[int, int, int], ...], image: int, device: torch.device, warmup: int = 2, repeats: int = 7, progress: bool = True) -> dict[str, object]:
    """All (depth, channels, batch) shapes on ``image`` x ``image`` inputs, with the machine before and after."""
    before = machine(device)
    results = []
    bar = tqdm(shapes, desc="bench conv", unit="shape", disable=not progress)
    for depth, channels, batch in bar:
        bar.set_postfix_str(f"L={depth} C={channels} B={batch}")
        results.append(dataclasses.asdict(bench_conv_shape(depth, channels, batch, image, device, warmup, repeats)))
    return {"model": "conv", "machine": before, "load_average_1min_after": os.getloadavg()[0], "warmup": warmup, "repeats": repeats,
            "target_pcalm_over_pc": TARGET_PCALM_OVER_PC, "results": results}


CONV_COLUMNS = (
    ("L", "depth", "{:d}"), ("C", "channels", "{:d}"), ("B", "batch", "{:d}"), ("image", "image", "{:d}"), ("T", "steps", "{:d}"),
    ("BP ms", "bp_ms", "{:.2f}"), ("PC ms", "pc_ms", "{:.2f}"), ("PC-ALM ms", "pcalm_ms", "{:.2f}"),
    ("ALM/PC", "pcalm_over_pc", "{:.3f}"), ("ALM/BP", "pcalm_over_bp", "{:.1f}"), ("ALM MiB", "pcalm_peak_mib", "{:.1f}"), ("BP MiB", "bp_peak_mib", "{:.1f}"),
)


def conv_markdown_table(report: dict[str, object]) -> str:
    """The conv results as a Markdown table, one row per shape."""
    lines = ["| " + " | ".join(title for title, _, _ in CONV_COLUMNS) + " |", "|" + "---:|" * len(CONV_COLUMNS)]
    for row in report["results"]:
        lines.append("| " + " | ".join(fmt.format(row[key]) for _, key, fmt in CONV_COLUMNS) + " |")
    return "\n".join(lines)
