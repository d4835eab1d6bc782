"""Test helpers: the device under test, random float64 models and batches, an independent
autograd L_rho, the fused kernels or a reason why not, what a test needs (skipped locally,
failed in CI), and child processes that end whatever happens."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from types import ModuleType

import pytest
import torch

import pcalm
import pcalm.engine.stacked.fused

Tensor = torch.Tensor
ACTIVATIONS = ("linear", "tanh", "relu")
# The device the device-aware tests run on (tests/conftest.py): PCALM_TEST_DEVICE, default cpu.
TEST_DEVICE = torch.device(os.environ.get("PCALM_TEST_DEVICE", "cpu"))


def random_model(kind: str, activation: str, seed: int) -> pcalm.LayeredModel:
    """A small float64 model: a plain MLP with biases and non-square widths, or a residual MLP."""
    if kind == "plain":
        return pcalm.MLP([3, 5, 4, 6, 2], activation=activation, bias=True, seed=seed, dtype=torch.float64)
    return pcalm.ResidualMLP(3, 5, 5, 2, activation=activation, seed=seed, dtype=torch.float64)


def random_batch(model: pcalm.LayeredModel, batch: int, seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, model.widths[0], generator=generator, dtype=torch.float64)
    y = torch.randn(batch, model.widths[-1], generator=generator, dtype=torch.float64)
    return x, y


def augmented_lagrangian(model: pcalm.LayeredModel, x: Tensor, y: Tensor, z: list[Tensor], lam: list[Tensor], rho: float) -> Tensor:
    """L_rho of DESIGN section 3, written out from the model's forward predictions only."""
    batch = x.shape[0]
    below = [x, *z]
    total = 0.5 * ((y - model.predict(model.depth, below[-1])) ** 2).sum()
    for l, (z_l, lam_l) in enumerate(zip(z, lam), start=1):
        eps_l = z_l - model.predict(l, below[l - 1])
        total = total + (lam_l * eps_l).sum() + 0.5 * rho * (eps_l * eps_l).sum()
    return total / batch


def relative_error(a: list[Tensor], b: list[Tensor]) -> float:
    """max over layers of ||a_l - b_l|| / ||b_l||."""
    return max(float((p - q).detach().norm() / q.detach().norm()) for p, q in zip(a, b))


def require_fused_kernels() -> ModuleType:
    """The fused CPU kernels (pcalm.engine.stacked.fused); a test needing them skips where they cannot be built
    (no C++ compiler or ninja), except in CI (CI=true), where their absence fails the test."""
    kernels = pcalm.engine.stacked.fused.kernels(torch.device("cpu"))
    require(kernels is not None, "the fused CPU kernels are unavailable here (PCALM_FUSED=0, or no compiler/ninja: see the warning)")
    return kernels


def in_ci() -> bool:
    """Whether this run is CI's (CI=true, 1 or yes): there a missing dependency fails, never skips."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(found: bool, why: str, module_level: bool = False) -> None:
    """Skip the test (the whole module with ``module_level``) when ``found`` is false, saying
    ``why``; under CI (:func:`in_ci`) fail it instead, so that a dependency gone missing from CI
    cannot pass as a skip."""
    if not found:
        if in_ci():
            pytest.fail(f"{why} (CI=true: a missing dependency fails the run)")
        pytest.skip(why, allow_module_level=module_level)


def require_module(name: str, why: str, module_level: bool = False) -> None:
    """:func:`require` an importable module ``name``: imported, so that one whose import fails
    counts as missing (``import`` raising ImportError, as an uninstalled one does)."""
    try:
        importlib.import_module(name)
        found = True
    except ImportError:
        found = False
    require(found, f"{name} is not installed: {why}", module_level)


def require_tool(name: str, why: str) -> None:
    """:func:`require` an executable ``name`` on PATH."""
    require(shutil.which(name) is not None, f"{name} is not on PATH: {why}")


# Run first in the child: SIGINT and SIGTERM back to their defaults, whatever the test run
# inherited (a background job or nohup ignores SIGINT, and a child inherits that), then exec the
# command, which keeps them (a wrapper rather than preexec_fn, unsafe in a threaded process).
DEFAULT_SIGNALS = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the child's process group (the child and whatever it started), if any is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def child_process(args: Sequence[str], timeout_s: float, end_group: bool = True, **popen: object) -> Iterator[subprocess.Popen]:
    """A child process that ends whatever happens: started in its own session (its own process
    group) with SIGINT and SIGTERM at their defaults; killed, its group with it, ``timeout_s``
    after it started (a watchdog thread, even while the test blocks) and when the block ends,
    passed or failed. ``end_group=False`` spares what it left running after it exited by itself
    (``ray start``'s daemons).

    Arguments:
        args: the command; timeout_s: its lifetime at most; popen: subprocess.Popen's other arguments.

    Yields:
        The subprocess.Popen.
    """
    process = subprocess.Popen([sys.executable, "-c", DEFAULT_SIGNALS, *args], start_new_session=True, **popen)
    watchdog = threading.Timer(timeout_s, _kill_group, (process,))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield process
    finally:
        watchdog.cancel()
        exited = process.poll() is not None
        if not exited or end_group:
            _kill_group(process)
        process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def run_process(args: Sequence[str], timeout_s: float, end_group: bool = True, **popen: object) -> subprocess.CompletedProcess:
    """Run ``args`` to its end under :func:`child_process`, output captured as text; a run past
    ``timeout_s`` is killed and fails the test, naming what it printed."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    with child_process(args, timeout_s, end_group, **popen) as process:
        try:
            out, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            out, err = process.communicate()
            pytest.fail(f"{list(args)} ran past {timeout_s:g} s and was killed; stdout: {out[-2000:]!r} stderr: {err[-2000:]!r}")
    return subprocess.CompletedProcess(list(args), process.returncode, out, err)
