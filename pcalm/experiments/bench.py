"""Timing one training step of BP, PC and PC-ALM on the residual MLP, against the machine's
batched-matmul speed measured in the same run (``pcalm bench``).

A "training step" here is the gradient computation ``infer(model, x, y, algo)`` with T = 2L,
k = 1, a fixed eta (no Lanczos) and float32: the optimizer update that follows is the same for
all three algorithms and is left out. BP is the stacked BP of :mod:`pcalm.engine.stacked.bp`
(``bp_autograd_ms``: autograd on the same model); PC and PC-ALM run the layer-parallel fast path
of :mod:`pcalm.engine.stacked`, the way this machine's measurement chose
(:mod:`pcalm.engine.stacked.choice`: ``way``, ``bp_way``), and both ways forced (``pcalm_fused_ms``,
``pcalm_eager_ms``; NaN where the fused kernels are not built).

BP's whole training step, gradients and Adam's update (``bp_step_ms``; ``bp_autograd_step_ms``
with autograd), as the official JAX code's jitted step is timed, is set against a dense bound:
its matmuls at the bench's bmm rate, forward F plus backward 2F - (layer 1's input gradient,
never needed) = 2 F + F' of the counts below (``bp_bound_ms``, ``bp_step_over_bound``).

Useful FLOPs of a PC / PC-ALM step (multiply-adds counted as 2):

    feedforward pass + weight gradients + T k (prediction pass + backward pass of layers 2..L)
    = 2 F + 2 T k F',   F = sum_{l=1..L} 2 B n_l n_{l-1},   F' = sum_{l=2..L} 2 B n_l n_{l-1}

(x is clamped, so layer 1's prediction is fixed and its vector-Jacobian product is never needed).
This counts the dense work: the fast path skips the layers credit has not reached
(:func:`pcalm.engine.stacked.run.wavefront`; ``skipped_fraction`` of the T k (L-1) layer-steps), so its
useful GFLOP/s on this count can pass the batched matmul's rate. ``pcalm_dense_ms`` times the same
PC-ALM run with every layer at every step, in the same rounds.
The reference speed is the sustained rate of ``torch.bmm`` on the stacked hidden blocks,
(L-2, B, N) x (L-2, N, N) with both operands contiguous (the faster layout), the largest matmul
a step contains: 2 T calls back to back, as many as a PC-ALM step makes, timed together and
divided (one cold call alone would also time the threads waking up and the operands coming in
from memory, and flatter the ratio). Timings interleave the algorithms round by round, in
alternating order, so a burst of load on a shared machine touches all of them alike; each
figure is the median of ``repeats`` runs after ``warmup`` runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile
from tqdm.auto import tqdm

from pcalm.engine.stacked import bp as stacked_bp
from pcalm.engine.stacked import choice, fused
from pcalm.engine.stacked import run as stacked_run
from pcalm.engine.algorithms import BP, PC, PCALM
from pcalm.engine.grads import train_step
from pcalm.engine.inference import infer
from pcalm.runtime.machine_info import cpu_record
from pcalm.models.residual import ResidualMLP
from pcalm.engine.schedule import resolve
from pcalm.engine.stacked import augmented_lagrangian
from pcalm.engine.stacked.run import wavefront

INPUT_DIM, OUTPUT_DIM, ETA = 784, 10, 0.2
QUICK_SHAPES = ((32, 128, 64), (128, 32, 64))
FULL_SHAPES = tuple((depth, width, batch) for depth in (16, 32, 128) for width in (32, 128, 512) for batch in (64, 256))


@dataclass(frozen=True)
class ShapeResult:
    """The figures of one (depth, width, batch) shape; times in milliseconds, memory in MiB."""

    depth: int
    width: int
    batch: int
    steps: int
    bp_ms: float
    bp_autograd_ms: float
    bp_step_ms: float  # gradients and Adam's update
    bp_autograd_step_ms: float
    bp_bound_ms: float  # (2 F + F') at the bmm rate
    bp_step_over_bound: float
    bp_way: str
    pc_ms: float
    pcalm_ms: float
    way: str  # the way PC / PC-ALM took: the machine's measured choice
    pcalm_fused_ms: float
    pcalm_eager_ms: float
    pcalm_dense_ms: float
    skipped_fraction: float
    pcalm_over_dense: float
    bmm_ms: float  # per call, from 2 T calls back to back
    pcalm_over_bp: float
    pcalm_over_pc: float
    useful_gflop: float
    pcalm_gflops: float
    bmm_gflops: float
    pcalm_over_bmm: float
    pcalm_peak_mib: float
    bp_peak_mib: float


def useful_flops(depth: int, width: int, batch: int, steps: int) -> float:
    """2 F + 2 T F' of the module docstring, for the MNIST-shaped residual MLP (784 -> N ... N -> 10)."""
    widths = [INPUT_DIM] + [width] * (depth - 1) + [OUTPUT_DIM]
    per_layer = [2.0 * batch * n * m for m, n in zip(widths[:-1], widths[1:])]
    return 2 * sum(per_layer) + 2 * steps * sum(per_layer[1:])


def bp_bound_flops(depth: int, width: int, batch: int) -> float:
    """2 F + F' of the module docstring: BP's forward pass, weight gradients and input gradients
    of layers 2..L, for the MNIST-shaped residual MLP."""
    widths = [INPUT_DIM] + [width] * (depth - 1) + [OUTPUT_DIM]
    per_layer = [2.0 * batch * n * m for m, n in zip(widths[:-1], widths[1:])]
    return 2 * sum(per_layer) + sum(per_layer[1:])


def _median_ms(samples: list[float]) -> float:
    return 1e3 * statistics.median(samples)


def time_interleaved(runs: dict[str, Callable[[], object]], sync: Callable[[], None], warmup: int, repeats: int) -> dict[str, float]:
    """Median wall-clock milliseconds of each run, round-robin after ``warmup`` rounds, the order
    reversed every other round (A B C, C B A, ...), so that a machine speeding up or slowing down
    during a round does not always favour the same run."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for round_ in range(warmup + repeats):
        order = list(runs.items()) if round_ % 2 == 0 else list(runs.items())[::-1]
        for name, run in order:
            sync()
            start = time.perf_counter()
            run()
            sync()
            if round_ >= warmup:
                samples[name].append(time.perf_counter() - start)
    return {name: _median_ms(s) for name, s in samples.items()}


def peak_memory_mib(run: Callable[[], object], device: torch.device) -> float:
    """Peak memory allocated by ``run`` beyond what was live before it (MiB): the CUDA allocator's
    peak on GPU; on CPU the running sum of the profiler's allocation and free events."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        run()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    live = peak = 0
    for event in sorted((e for e in prof.events() if e.self_cpu_memory_usage != 0), key=lambda e: e.time_range.start):
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak / 2**20


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null for the block: the profiler's C++ side (kineto) prints
    "USDT: profiler_start/stop" lines there, past Python's sys.stderr and any log level."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def bench_shape(depth: int, width: int, batch: int, device: torch.device, warmup: int = 2, repeats: int = 7, seed: int = 0) -> ShapeResult:
    """Time BP, PC, PC-ALM (T = 2L) and the reference batched matmul on one shape."""
    model = ResidualMLP(INPUT_DIM, width, depth, OUTPUT_DIM, "relu", seed=seed).to(device)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, INPUT_DIM, generator=generator).to(device)
    y = torch.nn.functional.one_hot(torch.randint(OUTPUT_DIM, (batch,), generator=generator), OUTPUT_DIM).float().to(device)
    steps = 2 * depth
    left = torch.randn(depth - 2, batch, width, generator=generator).to(device)
    product = torch.empty_like(left)
    blocks = model.w_hidden.detach().transpose(1, 2).contiguous()
    calls = 2 * steps
    schedule = resolve(PCALM(eta=ETA, steps=steps), model, x, y)
    hidden = depth - 1
    skipped = sum(wavefront(hidden, steps)) / (steps * hidden)
    # The choices, made (measured, or read from this machine's file) before anything is timed.
    way = choice.choose("inference", width, depth, device, stacked_run.time_one_run)
    bp_way = choice.choose("bp", width, depth, device, stacked_bp.time_one_run)
    has_kernels = fused.kernels(device) is not None
    trained = {kind: ResidualMLP(INPUT_DIM, width, depth, OUTPUT_DIM, "relu", seed=seed).to(device) for kind in ("fast", "autograd")}
    optimizers = {kind: torch.optim.Adam(net.parameters(), lr=1e-3) for kind, net in trained.items()}
    runs: dict[str, Callable[[], object]] = {
        "bp": lambda: infer(model, x, y, BP()),
        "bp_autograd": lambda: infer(model, x, y, BP(fast=False)),
        "bp_step": lambda: train_step(trained["fast"], optimizers["fast"], x, y, BP()),
        "bp_autograd_step": lambda: train_step(trained["autograd"], optimizers["autograd"], x, y, BP(fast=False)),
        "pc": lambda: infer(model, x, y, PC(eta=ETA, steps=steps), fast=True),
        "pcalm": lambda: infer(model, x, y, PCALM(eta=ETA, steps=steps), fast=True),
        "pcalm_eager": lambda: augmented_lagrangian(model, x, y, schedule, fused=False),
        "pcalm_dense": lambda: augmented_lagrangian(model, x, y, schedule, dense=True),
        "bmm": lambda: [torch.bmm(left, blocks, out=product) for _ in range(calls)],
    }
    if has_kernels:
        runs["pcalm_fused"] = lambda: augmented_lagrangian(model, x, y, schedule, fused=True, skew=way.skew)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    ms = time_interleaved(runs, sync, warmup, repeats)
    ms["bmm"] /= calls
    flops = useful_flops(depth, width, batch, steps)
    pcalm_gflops = flops / ms["pcalm"] / 1e6
    bmm_gflops = 2.0 * (depth - 2) * batch * width * width / ms["bmm"] / 1e6
    bp_bound_ms = bp_bound_flops(depth, width, batch) / bmm_gflops / 1e6
    return ShapeResult(
        depth=depth,
        width=width,
        batch=batch,
        steps=steps,
        bp_ms=ms["bp"],
        bp_autograd_ms=ms["bp_autograd"],
        bp_step_ms=ms["bp_step"],
        bp_autograd_step_ms=ms["bp_autograd_step"],
        bp_bound_ms=bp_bound_ms,
        bp_step_over_bound=ms["bp_step"] / bp_bound_ms,
        bp_way=bp_way.name,
        pc_ms=ms["pc"],
        pcalm_ms=ms["pcalm"],
        way=way.name,
        pcalm_fused_ms=ms.get("pcalm_fused", math.nan),
        pcalm_eager_ms=ms["pcalm_eager"],
        pcalm_dense_ms=ms["pcalm_dense"],
        skipped_fraction=skipped,
        pcalm_over_dense=ms["pcalm"] / ms["pcalm_dense"],
        bmm_ms=ms["bmm"],
        pcalm_over_bp=ms["pcalm"] / ms["bp"],
        pcalm_over_pc=ms["pcalm"] / ms["pc"],
        useful_gflop=flops / 1e9,
        pcalm_gflops=pcalm_gflops,
        bmm_gflops=bmm_gflops,
        pcalm_over_bmm=pcalm_gflops / bmm_gflops,
        pcalm_peak_mib=peak_memory_mib(runs["pcalm"], device),
        bp_peak_mib=peak_memory_mib(runs["bp"], device),
    )


def machine(device: torch.device) -> dict[str, object]:
    """What the figures were measured on: the CPU, its SIMD extensions and BLAS
    (:func:`pcalm.runtime.machine_info.cpu_record`), torch, threads, and the load average (the machine
    may be shared)."""
    info: dict[str, object] = {
        "device": str(device),
        "platform": platform.platform(),
        **cpu_record(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "fused_kernels": fused.kernels(device) is not None,
        "pcalm_fused_env": os.environ.get("PCALM_FUSED"),  # set: it forced the way (no measured choice)
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def measure_way(device: torch.device) -> None:
    """Measure the fast path's way choice for PC / PC-ALM and BP now and keep it
    (:func:`pcalm.engine.stacked.choice.measure_now`); the CPU only, where the kernels are built."""
    if device.type == "cpu" and fused.kernels(device) is not None:
        choice.measure_now("inference", stacked_run.time_one_run)
        choice.measure_now("bp", stacked_bp.time_one_run)


def run_bench(shapes: tuple[tuple[int, int, int], ...], device: torch.device, warmup: int = 2, repeats: int = 7, progress: bool = True) -> dict[str, object]:
    """All shapes, one after the other (a progress bar on stderr), with the machine description before and after."""
    before = machine(device)
    results = []
    bar = tqdm(shapes, desc="bench", unit="shape", disable=not progress)
    for depth, width, batch in bar:
        bar.set_postfix_str(f"L={depth} N={width} B={batch}")
        results.append(dataclasses.asdict(bench_shape(depth, width, batch, device, warmup, repeats)))
    return {
        "machine": before, "load_average_1min_after": os.getloadavg()[0], "warmup": warmup, "repeats": repeats, "results": results,
        "way_choice": choice.made(),
    }


COLUMNS = (
    ("L", "depth", "{:d}"),
    ("N", "width", "{:d}"),
    ("B", "batch", "{:d}"),
    ("T", "steps", "{:d}"),
    ("BP ms", "bp_ms", "{:.2f}"),
    ("PC ms", "pc_ms", "{:.2f}"),
    ("PC-ALM ms", "pcalm_ms", "{:.2f}"),
    ("way", "way", "{}"),
    ("fused ms", "pcalm_fused_ms", "{:.2f}"),
    ("eager ms", "pcalm_eager_ms", "{:.2f}"),
    ("dense ms", "pcalm_dense_ms", "{:.2f}"),
    ("skipped", "skipped_fraction", "{:.1%}"),
    ("ALM/dense", "pcalm_over_dense", "{:.3f}"),
    ("ALM/BP", "pcalm_over_bp", "{:.1f}"),
    ("ALM/PC", "pcalm_over_pc", "{:.3f}"),
    ("ALM GFLOP/s", "pcalm_gflops", "{:.1f}"),
    ("bmm GFLOP/s", "bmm_gflops", "{:.1f}"),
    ("ALM/bmm", "pcalm_over_bmm", "{:.2f}"),
    ("ALM MiB", "pcalm_peak_mib", "{:.1f}"),
    ("BP MiB", "bp_peak_mib", "{:.1f}"),
)


BP_COLUMNS = (
    ("L", "depth", "{:d}"),
    ("N", "width", "{:d}"),
    ("B", "batch", "{:d}"),
    ("BP way", "bp_way", "{}"),
    ("BP ms", "bp_ms", "{:.2f}"),
    ("autograd ms", "bp_autograd_ms", "{:.2f}"),
    ("BP+Adam ms", "bp_step_ms", "{:.2f}"),
    ("autograd+Adam ms", "bp_autograd_step_ms", "{:.2f}"),
    ("bound ms", "bp_bound_ms", "{:.3f}"),
    ("step/bound", "bp_step_over_bound", "{:.1f}"),
)


def _table(columns: tuple[tuple[str, str, str], ...], rows: list[dict]) -> list[str]:
    lines = ["| " + " | ".join(title for title, _, _ in columns) + " |", "|" + "---:|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(fmt.format(row[key]) for _, key, fmt in columns) + " |")
    return lines


def choice_lines(report: dict[str, object]) -> list[str]:
    """The machine's choices the run used, one line per kind, thread count and class: the way,
    the sweep length, both ways' times on the class's timed shape, and where the choice came from."""
    lines = []
    for name, made in sorted(report.get("way_choice", {}).items()):
        for shape_class, entry in sorted(made["classes"].items()):
            times = f"eager {entry['eager_ms']:.2f} ms, fused {entry['fused_ms']:.2f} ms" if "eager_ms" in entry else "not timed"
            lines.append(f"- {name} {shape_class}: {entry['way']} (SKEW {entry['skew']}; {times}; {made['source']})")
    return lines


def markdown_table(report: dict[str, object]) -> str:
    """The results as Markdown: a table with one row per shape, BP's table, and the way choices."""
    lines = _table(COLUMNS, report["results"]) + [""] + _table(BP_COLUMNS, report["results"])
    chosen = choice_lines(report)
    return "\n".join(lines + ([""] + ["Way chosen (pcalm.engine.stacked.choice):"] + chosen if chosen else []))
