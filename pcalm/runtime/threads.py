"""How many CPU threads a run uses: the rule behind the default of ``pcalm train``, ``grid`` and ``check``.

Every step of a run is a chain of one-layer operations (a hidden layer's matmul on the batch,
its elementwise pass, its vector-Jacobian product), each split among the threads and joined
before the next. The work of one such operation, ``batch * width**2`` multiply-adds
(:func:`layer_work`), decides whether a second thread pays for the join: below
:data:`ONE_THREAD_BELOW` the threads wait on each other more than they compute, and on a busy
machine a thread that has lost its core stalls every join (``pcalm bench --threads 1`` against
``--threads 2``, docs/benchmarks.md). Depth repeats the same operations, so it does not move the
crossover. The rule (:func:`choose_threads`): one thread below the threshold, every core this
process may run on at or above it; ``--threads`` (a given count) overrides it.

The thread count is part of what fixes a run's numbers on the CPU (torch's sums and the BLAS
split their work by thread; :func:`run_threads` gives NumPy's and SciPy's BLAS the same count),
so the rule depends only on the run's shape and the machine's cores, never on its load: a fixed
config on one machine always gets the same count, and ``summary.json`` records it with the
rule's inputs (:class:`ThreadChoice`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

# Multiply-adds of one layer's matmul (batch * width^2) from which a second thread pays off on
# a loaded machine too: 2^26 = batch 256 x width 512, the smallest measured work at which
# ``pcalm bench --shape L,N,B --threads 2`` beat ``--threads 1`` for PC-ALM in every round, the
# round with both cores busy included (load 5.5 on 2 cores: 1.26x; idle: 2.1x); below it the
# second thread lost in a loaded round at every measured shape, by 1.5x to 60x, and gained at
# most 2.2x on the idle machine. Measured on this project's 2-core Sapphire Rapids KVM machine,
# docs/benchmarks.md ("Threads").
ONE_THREAD_BELOW = 2**26


def layer_work(width: int, batch: int) -> int:
    """Multiply-adds of one hidden layer's matmul on the batch: ``batch * width**2`` (the unit of
    work the threads split and join on at every layer of every step)."""
    return batch * width * width


def cores() -> int:
    """The CPUs this process may run on (its affinity mask: a taskset or a container's cpuset)."""
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class ThreadChoice:
    """A run's torch thread count and where it came from: ``source`` "rule" (then ``work`` =
    :func:`layer_work` of the run, compared to ``threshold`` = :data:`ONE_THREAD_BELOW`, with
    ``cores`` available) or "given" (``--threads``, a task's ``--cpus-per-cell``, a caller)."""

    threads: int
    source: str
    work: int | None = None
    threshold: int | None = None
    cores: int | None = None


def check_thread_count(given: int | None) -> int | None:
    """``given`` unchanged when it is None (the rule decides) or an integer >= 1; ValueError
    naming ``threads`` otherwise (the command line calls it before any work)."""
    if given is not None and (isinstance(given, bool) or not isinstance(given, int) or given < 1):
        raise ValueError(f"threads: must be an integer >= 1, got {given!r}")
    return given


def choose_threads(width: int, batch: int, given: int | None = None) -> ThreadChoice:
    """The thread count of a run of hidden width ``width`` on batches of ``batch``: ``given`` when
    it is not None, else one thread when :func:`layer_work` is below :data:`ONE_THREAD_BELOW`,
    every core (:func:`cores`) otherwise.

    Arguments:
        width: the hidden width N.
        batch: the batch size B.
        given: a thread count that overrides the rule (>= 1), or None.

    Returns:
        The :class:`ThreadChoice`.
    """
    if check_thread_count(given) is not None:
        return ThreadChoice(given, "given")
    work, available = layer_work(width, batch), cores()
    return ThreadChoice(1 if work < ONE_THREAD_BELOW else available, "rule", work, ONE_THREAD_BELOW, available)


@contextlib.contextmanager
def run_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch threads and at most ``threads`` BLAS threads for NumPy
    and SciPy (threadpoolctl), then restore both counts.

    The BLAS limit matters as much as torch's count: NumPy's and SciPy's OpenBLAS start one thread
    per core whatever torch does, and their idle threads spin. Two one-thread cells of a grid
    running side by side on 2 cores (two processes, or two Ray workers) each took 1.7x the time
    they take with one BLAS thread (PC-ALM, width 32, depth 32, 8 epochs: 4.1 s against 2.35 s,
    docs/scaling.md). Where SciPy's sums run (eta's Lanczos), its thread count also fixes their
    order, so a run's numbers depend on ``threads`` alone, in process as in a Ray task.
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)
