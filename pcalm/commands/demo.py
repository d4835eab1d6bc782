"""``pcalm demo``: BP, PC and PC-ALM weight gradients on one digits batch, side by side."""

from __future__ import annotations

import argparse
import json
from pathlib import Path



def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="compare BP, PC and PC-ALM gradients on one digits batch")
    parser.add_argument("--width", type=int, default=32, help="width N of the residual MLP's hidden layers")
    parser.add_argument("--depth", type=int, default=32, help="depth L (weight layers); the budget is T = 2L")
    parser.add_argument("--activation", default="relu", help="linear, tanh or relu")
    parser.add_argument("--batch-size", type=int, default=64, help="digits training samples in the batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and of the batch drawn")
    parser.add_argument("--out", type=Path, default=Path("results/demo"), help="folder for demo.json")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Cosine of PC's and PC-ALM's weight gradients (T = 2L, eta = 1/lambda_max) to BP's."""
    import torch

    from pcalm.engine.algorithms import BP, PC, PCALM
    from pcalm.data import load_dataset
    from pcalm.engine.inference import infer
    from pcalm.engine.metrics import gradient_cosine, layer_cosines
    from pcalm.models import ResidualMLP
    from pcalm.engine.step_size import activity_lambda_max

    x, y = load_dataset("digits").training_batch(args.batch_size, args.seed)
    model = ResidualMLP(x.shape[1], args.width, args.depth, y.shape[1], args.activation, seed=args.seed, dtype=torch.float64)
    bp = infer(model, x, y, BP(fast=False))  # autograd: the independent reference
    report = {"width": args.width, "depth": args.depth, "activation": args.activation, "batch_size": args.batch_size, "seed": args.seed}
    print(f"residual MLP N={args.width} L={args.depth} {args.activation}, digits batch of {args.batch_size}, T=2L")
    eta = 1.0 / activity_lambda_max(model, x, y)  # the paper's rule, resolved once for both methods
    for algo in (PC(eta=eta), PCALM(eta=eta)):
        result = infer(model, x, y, algo)
        cosine = gradient_cosine(result.weight_grads, bp.weight_grads)
        per_layer = layer_cosines(result.weight_grads, bp.weight_grads)
        report[algo.name] = {"eta": result.eta, "cosine_to_bp": cosine, "layer_cosines_to_bp": per_layer}
        print(f"  {algo.name:7s} eta={result.eta:.4f}  cosine to BP {cosine:.4f}  (lowest layer {per_layer[0]:.4f})")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "demo.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out / 'demo.json'}")
    return 0
