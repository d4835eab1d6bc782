"""``pcalm train``: train the paper's residual MLP (or ``--model conv``, the residual CNN) with BP, PC or PC-ALM; write metrics.csv and summary.json.

Exit status (pcalm.runtime.exit_status): 0 trained, 3 diverged (summary.json says where), 2 bad input or missing data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pcalm.runtime import exit_status
from pcalm.runtime.choices import ALGOS, DATASETS, DTYPE_NAMES, MODELS


def eta_value(text: str) -> float | str:
    """argparse type of --eta: "auto" or a positive number."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number, got {text!r}") from None


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """--threads (of ``train``, ``grid`` and ``check``): overrides the rule of :mod:`pcalm.runtime.threads`."""
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch CPU threads of every run in this process (default: one for small nets, all cores for large ones, "
        "see docs/benchmarks.md; on Ray a cell has --cpus-per-cell)",
    )


def given_threads(args: argparse.Namespace) -> int | None:
    """The --threads count given, refused (ValueError, exit 2) below 1; None for the rule."""
    from pcalm.runtime.threads import check_thread_count  # torch-free

    return check_thread_count(args.threads)


def add_shared_options(parser: argparse.ArgumentParser) -> None:
    """Options every run of ``train`` and ``grid`` shares (defaults: the paper's)."""
    parser.add_argument("--model", choices=MODELS, default="residual-mlp", help="the paper's residual MLP, or conv: a residual CNN (width = channels, depth = layers; image data sets)")
    parser.add_argument("--dataset", choices=DATASETS, default="digits", help="digits is bundled (offline); mnist and fmnist are read from --data-dir")
    parser.add_argument("--data-dir", default=None, help="where MNIST / Fashion-MNIST live (torchvision layout; default ./data)")
    parser.add_argument("--download", action="store_true", help="let torchvision download MNIST / Fashion-MNIST (needs pcalm[vision] and network)")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training set")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per Adam step")
    parser.add_argument("--eta", type=eta_value, default="auto", help="activity step; 'auto' = 1/lambda_max of the initial model")
    parser.add_argument("--alpha", type=float, default=1.0, help="PC-ALM dual step")
    parser.add_argument("--rho", type=float, default=1.0, help="PC-ALM penalty")
    parser.add_argument("--steps", type=int, default=None, help="inference budget T (default 2L)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-3*sqrt(N/L))")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float32", help="floating-point type of weights and activities")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the digits split / teacher task")
    add_threads_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def shared_settings(args: argparse.Namespace) -> dict:
    """The TrainConfig fields set by :func:`add_shared_options` (all but --threads and --quiet)."""
    return dict(
        dataset=args.dataset, data_dir=args.data_dir, download=args.download, epochs=args.epochs, batch_size=args.batch_size,
        eta=args.eta, alpha=args.alpha, rho=args.rho, steps=args.steps, lr=args.lr, device=args.device, dtype=args.dtype,
        split_seed=args.split_seed, model=args.model,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a residual MLP with BP, PC or PC-ALM")
    parser.add_argument("--algo", choices=ALGOS, default="pc-alm", help="how the weight gradient is computed")
    parser.add_argument("--width", type=int, default=32, help="width N of the hidden layers (conv: channels C)")
    parser.add_argument("--depth", type=int, default=32, help="depth L (weight layers)")
    parser.add_argument("--activation", default="relu", help="linear, tanh or relu")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and of the batch order")
    add_shared_options(parser)
    parser.add_argument("--out", type=Path, required=True, help="folder for metrics.csv and summary.json")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train one run; print its final metrics."""
    from pcalm.experiments.training import TrainConfig, train

    config = TrainConfig(algo=args.algo, width=args.width, depth=args.depth, activation=args.activation, seed=args.seed, **shared_settings(args))
    result = train(config, args.out, progress=not args.quiet, threads=given_threads(args))  # bad input, missing data: exit 2 (pcalm.commands.cli)
    eta = "" if result.eta is None else f" eta={result.eta:.4g}"
    threads = f"{result.threads} thread{'s' * (result.threads > 1)}"
    family = "conv " if config.model == "conv" else ""
    print(f"{family}{config.algo} N={config.width} L={config.depth} {config.activation} on {config.dataset}:{eta} {result.steps_done} steps in {result.wall_time_s:.1f} s on {threads}")
    if result.final is not None:
        final = result.final
        print(f"epoch {final.epoch}: test acc {final.test_acc:.4f}, test mse {final.test_mse:.4f}, cosine to BP {final.cosine_to_bp:.4f}")
    print(f"wrote {args.out / 'metrics.csv'} and {args.out / 'summary.json'}")
    if result.diverged:
        print(f"pcalm train: diverged: {result.message}", file=sys.stderr)
        return exit_status.DIVERGED
    return exit_status.OK
