"""``pcalm bench``: milliseconds and GFLOP/s of one BP, PC and PC-ALM training step (see :mod:`pcalm.experiments.bench`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="time one training step of BP, PC and PC-ALM against the machine's batched-matmul speed")
    parser.add_argument("--device", default="auto", help="torch device; auto = cuda if available, else cpu")
    parser.add_argument("--full", action="store_true", help="depth 16/32/128 x width 32/128/512 x batch 64/256 instead of the quick set")
    parser.add_argument("--shape", action="append", metavar="L,N,B", help="a depth,width,batch to time (repeatable; replaces the set)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per figure (the median is reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's own choice)")
    parser.add_argument("--model", choices=("residual-mlp", "conv"), default="residual-mlp", help="conv: time the residual CNN's steps (--shape L,C,B with C channels) on --image-size inputs")
    parser.add_argument("--image-size", type=int, default=8, help="side of the conv model's square grey inputs (8: digits, 28: MNIST)")
    parser.add_argument("--measure-way", action="store_true", help="measure the fast path's way choice now (whatever the load) and keep it for this machine")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="folder for bench.json and bench.md")
    parser.set_defaults(func=run)


def _shapes(args: argparse.Namespace) -> tuple[tuple[int, int, int], ...]:
    from pcalm.experiments.bench import FULL_SHAPES, QUICK_SHAPES
    from pcalm.experiments.bench_conv import CONV_FULL_SHAPES, CONV_QUICK_SHAPES

    if args.shape:
        shapes = []
        for text in args.shape:
            parts = text.split(",")
            if len(parts) != 3 or not all(p.strip().isdigit() for p in parts) or int(parts[0]) < 3 or min(int(p) for p in parts) < 1:
                raise ValueError(f"--shape: expected depth,width,batch with depth >= 3 and width, batch >= 1, got {text!r}")
            shapes.append(tuple(int(p) for p in parts))
        return tuple(shapes)
    if args.model == "conv":
        return CONV_FULL_SHAPES if args.full else CONV_QUICK_SHAPES
    return FULL_SHAPES if args.full else QUICK_SHAPES


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print it, and write bench.json and bench.md into --out."""
    import torch

    from pcalm.experiments.bench import INPUT_DIM, OUTPUT_DIM, markdown_table, run_bench
    from pcalm.experiments.run_memory import check_bench_fits
    from pcalm.runtime.machine_info import describe
    from pcalm.engine.validation import check_device

    if args.repeats < 1 or args.warmup < 0:
        raise ValueError(f"--repeats must be >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    shapes, device = _shapes(args), check_device(auto if args.device == "auto" else args.device)  # bad input: exit 2 (pcalm.commands.cli)
    check_bench_fits(shapes, INPUT_DIM, OUTPUT_DIM)  # every shape, before the first is built
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.measure_way:
        from pcalm.experiments.bench import measure_way

        measure_way(device)
    if args.model == "conv":
        from pcalm.experiments.bench_conv import conv_markdown_table, run_conv_bench

        if args.image_size < 3:
            raise ValueError(f"--image-size must be >= 3, got {args.image_size}")
        report = run_conv_bench(shapes, args.image_size, device, args.warmup, args.repeats)
        table = conv_markdown_table(report)
    else:
        report = run_bench(shapes, device, args.warmup, args.repeats)
        table = markdown_table(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(report, indent=2))
    (args.out / "bench.md").write_text(f"{describe(report['machine'])}\n\n{json.dumps(report['machine'])}\n\n{table}\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(describe(report["machine"]))
        print(table)
        print(f"wrote {args.out / 'bench.json'} and {args.out / 'bench.md'}")
    return 0
