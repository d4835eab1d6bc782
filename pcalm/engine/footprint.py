"""The memory one training run needs at its peak, estimated from the shapes and the dtype
(:func:`training_footprint`), and its refusal before anything is allocated (:func:`check_training_fits`).

What is counted, read off the code that allocates it (P = the parameters' bytes,
:func:`pcalm.models.footprint.parameter_count`; A = one activity-sized tensor, B x the hidden
widths' sum; T' = the activity steps, T k):

- the parameters, and per Adam step the parameter-sized tensors live with them: the gradient
  the engine returns, the ``.grad`` it is copied into, Adam's two moments and one temporary of
  Adam's update, and on the residual MLP's fast path the hidden weights' stored transposes
  (:class:`pcalm.models.residual_stacked.StackedWeights`): ``PARAMETER_COPIES`` P + the hidden block;
- the largest of three passes that never overlap: one step's activity buffers
  (``STEP_ACTIVITIES`` A: the fast path's P, A, D, V, lam, eps, E, or the reference loop's z,
  lam, eps, e and the energies' terms; BP: autograd's saved tensors, ``BP_ACTIVITIES`` A), plus the per-step energy sums (T' + 1) x L (float64
  pairs and the per-layer table); eta = "auto"'s Lanczos on the activity Hessian
  (``LANCZOS_VECTORS`` float64 vectors of B x the hidden widths' sum, and the double-backward
  graph, ``HESSIAN_GRAPH`` A); the evaluation's feedforward pass over ``eval_rows`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pcalm.models.footprint import parameter_count
from pcalm.runtime.memory import check_fits, format_bytes

PARAMETER_COPIES = 5  # gradient result, .grad, Adam's exp_avg and exp_avg_sq, one temporary of Adam's step
STEP_ACTIVITIES = 8  # the eager fast path: P, A, D, V, lam and eps (LEps), E, and the returned z / lam views' slack
BP_ACTIVITIES = 5  # autograd's per layer: the input, the branch's product, phi's output and mask, the backward error
LANCZOS_VECTORS = 20  # scipy's eigsh with k = 1 keeps ncv = max(2k + 1, 20) vectors
HESSIAN_GRAPH = 8  # z, the predictions, eps and their double-backward intermediates
FLOAT64 = 8


@dataclass(frozen=True)
class Footprint:
    """The bytes of one run at its peak: ``parameters`` and the parameter-sized tensors beside
    them (``parameter_copies``), and the largest pass (``peak_pass``, named by ``pass_name``)."""

    parameters: int
    parameter_copies: int
    peak_pass: int
    pass_name: str

    @property
    def total(self) -> int:
        return self.parameters + self.parameter_copies + self.peak_pass

    def describe(self) -> str:
        """The parts, for the refusal's message."""
        return (f"parameters {format_bytes(self.parameters)}, their gradients and Adam's state {format_bytes(self.parameter_copies)}, "
                f"{self.pass_name} {format_bytes(self.peak_pass)}")


def training_footprint(widths: Sequence[int], batch: int, element_bytes: int, steps: int, bias: bool = False,
                       stacked_hidden: int = 0, eta_auto: bool = False, eval_rows: int = 0) -> Footprint:
    """The estimate of the module docstring.

    Arguments:
        widths: [n_0, ..., n_L]; batch: B; element_bytes: bytes per element of the dtype;
        steps: the activity steps of one inference, T k (0: BP, autograd); bias: layers with biases;
        stacked_hidden: the hidden weights' element count when the fast path stores their
            transposes (residual MLP), else 0; eta_auto: eta is found by Lanczos;
        eval_rows: rows of the evaluation's feedforward pass (0: none).

    Returns:
        The :class:`Footprint`.
    """
    parameters = parameter_count(widths, bias) * element_bytes
    hidden_units = sum(int(n) for n in widths[1:-1])
    activity = batch * hidden_units * element_bytes
    depth = len(widths) - 1
    passes = {
        "one step's activity buffers": (STEP_ACTIVITIES if steps else BP_ACTIVITIES) * activity + (steps + 1) * depth * (2 * FLOAT64 + 2 * element_bytes),
        "eta's Lanczos vectors": (LANCZOS_VECTORS * batch * hidden_units * FLOAT64 + HESSIAN_GRAPH * activity) if eta_auto else 0,
        "the evaluation's feedforward pass": eval_rows * sum(int(n) for n in widths[1:]) * element_bytes,
    }
    name = max(passes, key=passes.get)
    return Footprint(parameters, PARAMETER_COPIES * parameters + stacked_hidden * element_bytes, passes[name], name)


def check_training_fits(what: str, footprint: Footprint, available: int | None = None) -> None:
    """Refuse the run ``what`` (:class:`pcalm.runtime.errors.ModelTooLargeError`, one line with
    the bytes needed and available) when ``footprint`` exceeds the machine's available memory."""
    check_fits(what, footprint.total, footprint.describe(), available)
