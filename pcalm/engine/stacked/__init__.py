"""The fast path: the canonical schedule of DESIGN section 3 for the residual MLP with all hidden
layers stacked, in two ways that give the same numbers to rounding:

- the eager ops (:mod:`pcalm.engine.stacked.run`): the stacked formulas of
  :mod:`pcalm.models.residual_stacked` on preallocated buffers, in a Python loop, on any device;
- the fused CPU run (``fused_steps.cpp``, built on first use by :mod:`pcalm.engine.stacked.fused`): the
  same formulas written once more, in C++, one layer at a time while it is in cache.

Both consume the resolved :class:`pcalm.engine.schedule.Schedule` (its ``alphas`` say which steps end
with a dual step); neither decides the schedule. Which of the two a shape takes is measured on
each machine (:mod:`pcalm.engine.stacked.choice`). BP runs here too, forward and backward written
out on the same stacked state (:mod:`pcalm.engine.stacked.bp`), both ways.
"""

from pcalm.engine.stacked.bp import backprop
from pcalm.engine.stacked.choice import SKEW
from pcalm.engine.stacked.run import augmented_lagrangian, supports

__all__ = ["SKEW", "augmented_lagrangian", "backprop", "supports"]
