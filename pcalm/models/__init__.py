"""Models: the home of each layer's formula mu_l (DESIGN section 1), per layer (``predict``,
``vjp``, ``param_grads``; :class:`pcalm.Layered` for any stack of torch modules, its residual CNN
in :mod:`pcalm.models.conv`) and, for the residual MLP, with all hidden layers stacked
(:mod:`pcalm.models.residual_stacked`, which the fast path applies). The fused CPU run
(``pcalm/engine/stacked/fused_steps.cpp``) is the one deliberate second copy of the stacked formulas."""

from pcalm.models.base import LayeredModel, MatrixModel
from pcalm.models.conv import ResidualCNN
from pcalm.models.layered import Layered, Scale
from pcalm.models.mlp import MLP
from pcalm.models.residual import ResidualMLP

__all__ = ["LayeredModel", "MatrixModel", "Layered", "Scale", "MLP", "ResidualMLP", "ResidualCNN"]
