"""Shared test configuration: Hypothesis profiles and float64 defaults.

Hypothesis runs under the seeded, bounded ``ci`` profile unless ``PCALM_HYPOTHESIS_PROFILE``
names another one (``full`` runs many more examples).
"""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

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


@pytest.fixture
def one_thread():
    """One torch thread: fastest for small nets, and the thread count is part of what fixes the bits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
