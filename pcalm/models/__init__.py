"""Models: the only place that knows a layer's formula mu_l (DESIGN section 1)."""

from pcalm.models.base import LayeredModel
from pcalm.models.mlp import MLP
from pcalm.models.residual import ResidualMLP

__all__ = ["LayeredModel", "MLP", "ResidualMLP"]
