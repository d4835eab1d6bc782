"""Shared test configuration: Hypothesis profiles, the test device, one-thread runs, the fused
kernels built before the workers of a run in several processes (pytest-xdist) start.

Hypothesis runs under the seeded, bounded ``ci`` profile unless ``PCALM_HYPOTHESIS_PROFILE``
names another one (``full`` runs many more examples).

The tests that take the ``device`` fixture run the engine, the fast path, training and the
benchmark on ``PCALM_TEST_DEVICE`` (default ``cpu``; ``cuda`` on a GPU machine), against
references computed on the CPU; a device that is not there stops the run rather than skipping.
"""

import os
import tempfile

import pytest
import torch
from hypothesis import HealthCheck, settings

import pcalm.engine.stacked.fused
from tests.helpers import TEST_DEVICE

# The fast path's way is chosen by a timing on each machine (pcalm.engine.stacked.choice); the tests
# pin it instead (the fused kernels where they are built, unless PCALM_FUSED says otherwise), so
# that their numbers do not depend on a measurement, and keep any choice file out of the user's cache.
os.environ.setdefault("PCALM_FUSED", "1")
# Two xdist workers share two cores: each runs torch on one thread (tests that need more set
# their own count), or their OpenMP threads fight for the cores and a check runs many times slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
os.environ.setdefault("PCALM_WAY_CACHE", os.path.join(tempfile.mkdtemp(prefix="pcalm-way-"), "choices"))

settings.register_profile(
    "ci",
    max_examples=25,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "full",
    max_examples=500,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("PCALM_HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DEVICE.type == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("PCALM_TEST_DEVICE=cuda, but torch sees no CUDA device")
    if not hasattr(config, "workerinput") and config.getoption("numprocesses", None):
        # The controller of a run in several processes builds the fused kernels (once per
        # machine, into the shared cache) before the workers start, so that no worker's test
        # waits on another's build, and none sees the "waiting for the build" line on its stderr.
        pcalm.engine.stacked.fused.kernels(torch.device("cpu"))


@pytest.fixture
def device() -> torch.device:
    """The device under test (PCALM_TEST_DEVICE, default cpu)."""
    return TEST_DEVICE


@pytest.fixture
def one_thread():
    """One torch thread: fastest for small nets, and the thread count is part of what fixes the bits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
