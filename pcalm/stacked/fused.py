"""The fused CPU kernels of the fast path (``pcalm/stacked/fused_steps.cpp``), built on first use.

The eager fast path runs each activity step as whole-stack ops: two batched matmuls and about
eight elementwise passes over the stacked (L-1, B, N) state, each streaming it from memory.
The C++ run instead splits the batch's rows among the threads and takes one layer at a time:
its two matmuls (MKL's sgemm/dgemm, single-threaded per thread) and then one pass that does the
activity update, the errors at the new z, the energy sums and the dual step while the layer is
in cache, sweeping the layers for several steps along a diagonal (``pcalm.stacked.SKEW``); the
feedforward start runs there too. The source's header explains the order.

It is compiled once per machine with ``torch.utils.cpp_extension`` (a C++ compiler and ninja,
the same tools ``torch.compile`` needs on CPU; about 30 s, announced on stderr) into torch's
extension cache (``TORCH_EXTENSIONS_DIR``), keyed by this CPU's instruction set, since it is
built with ``-march=native``, and by the torch and Python versions.

Switch: ``PCALM_FUSED=0`` in the environment turns it off, and so does a CPU without the tools
or a torch built without MKL (a warning says why, once); the fast path then runs its eager ops,
which give the same numbers to rounding (``tests/test_fast_path.py``: both to 1e-12 of the
reference loop in float64). On other devices the eager ops run.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import sys
import warnings
from pathlib import Path
from types import ModuleType

import torch

SOURCE = Path(__file__).with_name("fused_steps.cpp")
ACTIVATIONS = {"linear": 0, "relu": 1, "tanh": 2}


def enabled() -> bool:
    """Whether ``PCALM_FUSED`` allows the fused kernels (anything but 0, false, no or off)."""
    return os.environ.get("PCALM_FUSED", "1").strip().lower() not in {"0", "false", "no", "off"}


def kernels(device: torch.device) -> ModuleType | None:
    """The compiled kernels for ``device``, or None: not a CPU, switched off, or not buildable here."""
    if device.type != "cpu" or not enabled():
        return None
    return _build()


@functools.cache
def _build() -> ModuleType | None:
    from torch.utils import cpp_extension

    if not torch.backends.mkl.is_available():
        warnings.warn("pcalm: fused CPU kernels unavailable (this torch has no MKL, whose sgemm they call); the fast path runs its eager ops", stacklevel=3)
        return None

    name = f"pcalm_fused_{_build_key()}"
    directory = Path(os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root()) / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not any(directory.glob(f"{name}*.so")):
            print("pcalm: building the fused CPU kernels (once per machine, about 30 s) ...", file=sys.stderr, flush=True)
        return cpp_extension.load(
            name=name,
            sources=[str(SOURCE)],
            extra_cflags=["-O3", "-march=native", "-ffp-contract=fast", "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            build_directory=str(directory),
            verbose=False,
        )
    except (RuntimeError, OSError, ImportError) as error:  # no compiler or ninja, an unwritable cache, or a failed build
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        warnings.warn(f"pcalm: fused CPU kernels unavailable ({first_line}); the fast path runs its eager ops", stacklevel=3)
        return None


def _build_key() -> str:
    """A short hash of this CPU's model and instruction-set flags (-march=native code is not
    portable), the torch version and the Python version (the binary's ABI)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [line for line in text.splitlines() if line.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = [platform.processor(), platform.machine()]
    lines += [torch.__version__, sys.version]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:10]
