"""DESIGN's C1 on the engine: in linear plain MLPs a long PC-ALM run gives BP's weight gradients.

Tolerance 1e-9 relative (float64): the schedule contracts geometrically, and with eta = alpha
= 0.2 on these default-initialised nets 4000 steps bring the error to about 1e-15 (measured),
so 1e-9 leaves six orders of margin yet is far below PC's gap (0.8 to 20 relative: PC's
equilibrium follows grad F*, not BP, DESIGN section 2).
"""

import pytest
import torch

import pcalm
from tests.helpers import relative_error

TOLERANCE = 1e-9
CASES = [(widths, batch) for widths in ([5, 4, 3], [3, 5, 4, 2], [4, 3, 6, 5, 2], [2, 7, 3, 4, 6, 3]) for batch in (1, 8)]


@pytest.mark.parametrize("widths,batch", CASES)
def test_long_pcalm_run_gives_bp_gradients_and_pc_does_not(widths, batch):
    model = pcalm.MLP(widths, activation="linear", seed=sum(widths) + batch, dtype=torch.float64)
    generator = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, widths[0], generator=generator, dtype=torch.float64)
    y = torch.randn(batch, widths[-1], generator=generator, dtype=torch.float64)
    bp = pcalm.infer(model, x, y, pcalm.BP(fast=False))  # autograd: the independent reference
    alm = pcalm.infer(model, x, y, pcalm.PCALM(eta=0.2, alpha=0.2, steps=4000))
    pc = pcalm.infer(model, x, y, pcalm.PC(eta=0.2, steps=4000))
    assert relative_error(alm.weight_grads, bp.weight_grads) < TOLERANCE
    assert relative_error(alm.lam, bp.lam) < TOLERANCE  # multipliers = BP's backward signals (C1)
    assert relative_error(pc.weight_grads, bp.weight_grads) > 1e3 * TOLERANCE
