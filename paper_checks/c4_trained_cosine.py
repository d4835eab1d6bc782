"""C4's trained-net cosine: why PC-ALM trains like BP. The per-layer cosine of a method's weight
gradient at the paper's budget T = 2L to BP's, measured along training at N = L = 32 on digits
(the paper's residual MLP, relu), at the start, the middle and the end of TRAIN_STEPS Adam steps
(learning rate 1e-3 sqrt(N / L), batch BATCH, the C4 grid's settings).

Each method trains its own net (the method under test, and PC beside it) from the same seeded
start; at each checkpoint the cosine is formed on a fixed probe batch of the training set. Judged:
the method under test's smallest layer cosine over the checkpoints is at least
LAYER_COSINE_FLOOR (C5's floor at the start, here along training). PC's lower values are shown
and reported, not judged (C3, C5 say why they are lower). What makes it fail: a method whose
gradient, in some layer and at some point of training, points more than 60 degrees away from
BP's (``--algo pc``: PC's lower layers, which credit reaches last).
"""

from __future__ import annotations

import math

import numpy as np
import torch

import pcalm
from paper_checks.methods import method_under_test
from paper_checks.verdict import CheckContext, Criterion
from pcalm.data import load_dataset
from pcalm.engine.grads import train_step
from pcalm.engine.metrics import layer_cosines
from pcalm.engine.schedule import resolve
from pcalm.experiments.plotting import Line, Threshold, plot_lines
from pcalm.runtime.threads import choose_threads, run_threads

WIDTH = DEPTH = 32
BATCH = 64
TRAIN_STEPS = {"quick": 20, "full": 200}
LAYER_COSINE_FLOOR = 0.5


def cosines_along_training(algo, ctx: CheckContext) -> dict[int, list[float]]:
    """Per-layer cosines to BP's at T = 2L on the probe batch, keyed by the Adam step (0, middle,
    end) of a net trained with ``algo`` (PC or PC-ALM, eta resolved on the probe at the start)."""
    data = load_dataset("digits").to("cpu", torch.float32)  # float32, as C4's grid trains
    probe = data.training_batch(BATCH, ctx.seed)
    model = pcalm.ResidualMLP(data.input_dim, WIDTH, DEPTH, data.num_classes, "relu", seed=ctx.seed)
    schedule = resolve(algo, model, *probe)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3 * math.sqrt(WIDTH / DEPTH))
    steps = TRAIN_STEPS[ctx.tier]
    marks, cosines = (0, steps // 2, steps), {}
    generator = torch.Generator().manual_seed(ctx.seed)
    for step in range(steps + 1):
        if step in marks:
            bp = pcalm.infer(model, *probe, pcalm.BP(fast=False)).weight_grads  # autograd: the independent reference
            cosines[step] = layer_cosines(pcalm.infer(model, *probe, schedule).weight_grads, bp)
        if step < steps:
            rows = torch.randperm(len(data.x_train), generator=generator)[:BATCH]
            train_step(model, optimizer, data.x_train[rows], data.y_train[rows], schedule)
    return cosines


def trained_cosine(ctx: CheckContext) -> tuple[list[Criterion], dict, list[str]]:
    """C4's trained-net criterion (module docstring): criteria, evidence and figures."""
    tested = method_under_test(ctx, eta="auto")
    with run_threads(choose_threads(WIDTH, BATCH, ctx.threads).threads):  # the thread rule (one for this net), as the grid's cells
        measured = {"tested": cosines_along_training(tested, ctx), "pc": cosines_along_training(pcalm.PC(eta="auto"), ctx)}
    lowest = min(min(c) for c in measured["tested"].values())
    criteria = [
        Criterion(f"{tested.name}: min over layers and checkpoints (start, middle, end of {TRAIN_STEPS[ctx.tier]} Adam steps) of cos(grad_l, BP grad_l) at T = 2L, N = L = {DEPTH}, digits",
                  lowest, ">=", LAYER_COSINE_FLOOR, "trains like BP because every layer's gradient stays within 60 degrees of BP's (C5's floor, along training); PC's lower layers fall below it"),
    ]
    evidence = {
        "width": WIDTH, "depth": DEPTH, "batch": BATCH, "train_steps": TRAIN_STEPS[ctx.tier], "dataset": "digits", "activation": "relu",
        "method": tested.name, "layer_cosines": {name: {str(step): c for step, c in values.items()} for name, values in measured.items()},
        "min_layer_cosine": {name: {str(step): float(min(c)) for step, c in values.items()} for name, values in measured.items()},
    }
    return criteria, {"trained_cosine": evidence}, [str(_plot(ctx, measured, tested.name))]


def _plot(ctx: CheckContext, measured: dict[str, dict[int, list[float]]], label: str):
    """Per-layer cosine to BP's at each checkpoint, the method under test solid, PC dashed, with the floor."""
    lines = []
    for name, title, style in (("tested", label, "-"), ("pc", "pc", "--")):
        for colour, (step, values) in zip(("C0", "C1", "C2"), measured[name].items()):
            lines.append(Line(list(range(1, len(values) + 1)), list(values), label=f"{title}, Adam step {step}", style=style, colour=colour))
    return plot_lines(lines, ctx.figure("c4_trained_cosine.png"), title=f"C4: per-layer gradient cosine to BP at T = 2L along training (N = L = {DEPTH}, digits)",
                      xlabel="layer l (1 = input side)", ylabel="cos(grad W_l, BP grad W_l)", thresholds=[Threshold(LAYER_COSINE_FLOOR, f"{label} floor {LAYER_COSINE_FLOOR} (every layer, every checkpoint)")])
