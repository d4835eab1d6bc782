"""The fused CPU kernels of the fast path (``pcalm/engine/stacked/fused_steps.cpp``), built on first use.

The eager fast path runs each activity step as whole-stack ops: two batched matmuls and about
eight elementwise passes over the stacked (L-1, B, N) state, each streaming it from memory.
The C++ run instead splits the batch's rows among the threads and takes one layer at a time:
its two matmuls (MKL's sgemm/dgemm, single-threaded per thread) and then one pass that does the
activity update, the errors at the new z, the energy sums and the dual step while the layer is
in cache, sweeping the layers for several steps along a diagonal (``pcalm.engine.stacked.SKEW``); the
feedforward start runs there too. The source's header explains the order.

It is compiled once per machine with ``torch.utils.cpp_extension`` (a C++ compiler and ninja,
the same tools ``torch.compile`` needs on CPU; about 30 s, announced on stderr) into a cache
that every install and process shares (:mod:`pcalm.runtime.kernel_cache`: keyed by the source, the
flags, this CPU's instruction set, since it is built with ``-march=native``, and the torch and
Python versions; one builder at a time, a killed build taken over).

Switch: which way a shape runs is chosen by measurement on each machine
(:mod:`pcalm.engine.stacked.choice`); ``PCALM_FUSED=1`` forces the kernels, ``PCALM_FUSED=0`` turns
them off, and so does a CPU without the tools or a torch built without MKL (a warning says why,
once); the fast path then runs its eager ops,
which give the same numbers to rounding (``tests/pcalm/engine/test_fast_path.py``: both to 1e-12 of the
reference loop in float64). On other devices the eager ops run.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from types import ModuleType

import torch

from pcalm.runtime import kernel_cache

SOURCE = Path(__file__).with_name("fused_steps.cpp")
ACTIVATIONS = {"linear": 0, "relu": 1, "tanh": 2}


def forced() -> bool | None:
    """What ``PCALM_FUSED`` forces: False for 0, false, no or off; True for any other value; None
    when it is unset or empty (the way is then chosen by measurement, :mod:`pcalm.engine.stacked.choice`)."""
    text = os.environ.get("PCALM_FUSED", "").strip().lower()
    if not text:
        return None
    return text not in {"0", "false", "no", "off"}


def enabled() -> bool:
    """Whether ``PCALM_FUSED`` allows the fused kernels (unset, or anything but 0, false, no or off)."""
    return forced() is not False


def kernels(device: torch.device) -> ModuleType | None:
    """The compiled kernels for ``device``, or None: not a CPU, switched off, or not buildable here."""
    if device.type != "cpu" or not enabled():
        return None
    return _build()


@functools.cache
def _build() -> ModuleType | None:
    if not torch.backends.mkl.is_available():
        warnings.warn("pcalm: fused CPU kernels unavailable (this torch has no MKL, whose sgemm they call); the fast path runs its eager ops", stacklevel=3)
        return None
    try:
        return kernel_cache.load(
            "pcalm_fused", SOURCE, ["-O3", "-march=native", "-ffp-contract=fast", "-fopenmp"], ["-fopenmp"],
            announce="the fused CPU kernels (once per machine, about 30 s)",
        )
    except kernel_cache.KernelBuildError as error:
        warnings.warn(f"pcalm: fused CPU kernels unavailable ({error}); the fast path runs its eager ops", stacklevel=3)
        return None
