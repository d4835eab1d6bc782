"""Ray as the engine of a grid: each cell one Ray task, on this machine or across a cluster.

:func:`ray_cells` sends every cell's :class:`~pcalm.experiments.training.TrainConfig` as one task (``num_cpus``
= ``cpus_per_cell``, torch and BLAS threads inside the task = that many;
``num_gpus`` = ``gpus_per_cell``)
and yields one :class:`CellOutcome` per cell as the tasks finish; the driver
(:func:`pcalm.experiments.grid.run_grid`) writes the rows, so it stays the only writer of ``cells.csv``.
A worker killed mid-task is retried by Ray (``max_retries``); any other exception in a task
comes back as an outcome with the error and the node, and the grid goes on. Each task first
checks that the pcalm it imports has the fingerprint the driver sent
(:func:`pcalm.experiments.fingerprint.code_fingerprint`): a node with other code fails its cells clearly.

Without an address a local Ray is started on all cores (no dashboard, loopback only, its workers
at normal priority: niceness 0) and shut down at the end; with one (``auto``, ``host:port``) the
grid joins that cluster and leaves it running; where no cluster answers (a TCP probe of the
address, then ray.init, each with its own time limit, under 30 s together) it is a ValueError
naming the address and the `ray start` that would start one. A Ray already initialised in this
process is used as it is.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pcalm.experiments.fingerprint import PACKAGE, code_fingerprint

if TYPE_CHECKING:  # torch is imported by the tasks, not by the command line that parses --ray
    from pcalm.data import Dataset
    from pcalm.experiments.training import TrainConfig, TrainResult

# Ray maps 127.0.0.1 to the machine's routable address unless this is "0"; read when ray is imported.
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# The local Ray's settings: Ray runs its workers at niceness 15 unless told otherwise, so on a
# busy machine a cell got a few percent of a core against the other processes' full share (a
# 6-cell grid with both cores busy: 259 s at 15, 19 s at 0, docs/scaling.md); at 0 a cell
# competes as it does in process. A cluster keeps what its `ray start` set (RAY_worker_niceness=0).
LOCAL_SYSTEM_CONFIG = {"worker_niceness": 0}
# Joining a cluster: how long the TCP probe of its address may take, and then ray.init. Ray's own
# waits are minutes long (a port that accepts but is no Ray's GCS: still waiting after 60 s), so
# both are bounded here, together under 30 s.
PROBE_TIMEOUT_S = 5.0
JOIN_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class RayOptions:
    """How a grid runs on Ray. ``address``: None starts a local Ray (all cores, loopback only),
    ``"auto"`` or ``"host:port"`` joins a cluster. ``cpus_per_cell``: the CPUs each cell's task
    reserves (torch threads = their integer part, at least 1); ``gpus_per_cell``: the GPUs
    (fractions share one); ``max_retries``: Ray's retries of a task whose worker died."""

    address: str | None = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float = 0.0
    max_retries: int = 3

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cpus_per_cell) and self.cpus_per_cell > 0):
            raise ValueError(f"cpus_per_cell: must be a positive number, got {self.cpus_per_cell!r}")
        if not (math.isfinite(self.gpus_per_cell) and self.gpus_per_cell >= 0):
            raise ValueError(f"gpus_per_cell: must be a number >= 0, got {self.gpus_per_cell!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries: must be >= 0, got {self.max_retries!r}")
        if self.address is not None and not self.address.strip():
            raise ValueError("address: empty; give 'auto' or host:port, or None for a local Ray")

    @property
    def threads(self) -> int:
        """Torch threads inside each task: the integer part of ``cpus_per_cell``, at least 1."""
        return max(1, int(self.cpus_per_cell))


@dataclass
class CellOutcome:
    """What one cell's task sent back: its config, the run (None if it failed), the node it ran
    on, the error (empty when it ran) and the node's CPU model."""

    config: "TrainConfig"
    result: "TrainResult | None"
    node: str
    error: str = ""
    cpu: str = "unknown"


class CodeMismatchError(RuntimeError):
    """The pcalm a Ray worker imports is not the code the driver runs."""


def node_name() -> str:
    """The Ray node this process runs on, as ``<node ip>/<first 12 digits of the node id>``
    (two nodes of one machine share the ip)."""
    import ray

    return f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()[:12]}"


@functools.lru_cache(maxsize=4)
def _dataset(name: str, data_dir: str | None, download: bool, split_seed: int) -> "Dataset":
    """The data set of a cell, loaded once per worker process (read on the worker's node)."""
    from pcalm.data import load_dataset

    return load_dataset(name, data_dir, download, split_seed)


def run_cell(config: "TrainConfig", fingerprint: str, threads: int, curve: bool = False) -> CellOutcome:
    """A cell's task: check the code, train with ``threads`` torch and BLAS threads
    (:func:`pcalm.runtime.threads.run_threads`: the numbers of the same cell in process with that many
    threads; ``curve``: :func:`pcalm.experiments.training.train`'s), return the outcome. Exceptions
    come back as the outcome's error, named with the node."""
    from pcalm.experiments.training import train
    from pcalm.runtime.machine_info import cpu_model

    node = node_name()
    try:
        here = code_fingerprint()
        if here != fingerprint:
            raise CodeMismatchError(
                f"the pcalm imported on node {node} ({PACKAGE}) has code fingerprint {here}, "
                f"the driver's has {fingerprint}: install the same pcalm on every node"
            )
        data = _dataset(config.dataset, config.data_dir, config.download, config.split_seed)
        return CellOutcome(config, train(config, None, progress=False, data=data, threads=threads, curve=curve), node, cpu=cpu_model())
    except Exception as error:  # reported by the driver with the cell and the node; the grid goes on
        return CellOutcome(config, None, node, f"{type(error).__name__}: {error}")


def import_ray(local: bool):
    """The ``ray`` module (a ValueError naming the extra when it is not installed). ``local``:
    make a Ray started here listen on loopback only (effective when ray is first imported)."""
    if local and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    try:
        import ray
    except ImportError:
        raise ValueError("ray: the Ray engine needs the ray package: pip install 'pcalm[ray]'") from None
    return ray


def _connect(ray, options: RayOptions) -> bool:
    """Connect this process to Ray as ``options`` says; True when it must shut Ray down afterwards."""
    if ray.is_initialized():
        return False
    start = time.perf_counter()
    if options.address is None:
        ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False, _system_config=LOCAL_SYSTEM_CONFIG)
    else:
        _join(ray, options.address)
    resources = ray.cluster_resources()
    where = "a local Ray" if options.address is None else f"the Ray cluster at {options.address}"
    print(f"[grid] on {where}: {len(ray.nodes())} node(s), {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs ({time.perf_counter() - start:.1f} s to connect)", file=sys.stderr, flush=True)
    return True


def _no_cluster(address: str, why: str) -> ValueError:
    """The one-line error of an address where no cluster answers, saying how to start one."""
    port = address.rpartition(":")[2] if address != "auto" else ""
    start = f"ray start --head --port {port}" if port.isdigit() else "ray start --head"
    return ValueError(f"ray: no Ray cluster answers at {address} ({why}); start one there with `{start}`, or give --ray alone for a local Ray")


def probe_address(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """A ValueError (:func:`_no_cluster`) unless a TCP connection to ``address`` (host:port, the
    cluster's GCS) opens within ``timeout_s``; other forms ("auto", ray://) are left to :func:`_join`."""
    host, _, port = address.rpartition(":")
    if not host or "://" in address or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except socket.timeout:
        raise _no_cluster(address, f"no answer within {timeout_s:g} s") from None
    except OSError as error:
        raise _no_cluster(address, error.strerror or type(error).__name__) from None


class _MainThreadOnly(logging.Filter):
    """Drops Ray's warning that a ray.init outside the main thread sets no SIGTERM handler (pcalm's stays)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SIGTERM handler is not set" not in record.getMessage()


def _join(ray, address: str, timeout_s: float = JOIN_TIMEOUT_S) -> None:
    """Join the cluster at ``address``: the TCP probe, then ray.init in a helper thread given at
    most ``timeout_s`` (a ValueError naming the address after that; the thread is left behind,
    and ends with the process)."""
    probe_address(address)
    outcome: dict[str, BaseException | None] = {}

    def init() -> None:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
            outcome["error"] = None
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    quiet = _MainThreadOnly()
    logger = logging.getLogger("ray._private.worker")
    logger.addFilter(quiet)
    try:
        thread = threading.Thread(target=init, name="pcalm-ray-join", daemon=True)
        thread.start()
        thread.join(timeout_s)
    finally:
        logger.removeFilter(quiet)
    if "error" not in outcome:
        raise _no_cluster(address, f"ray.init did not connect within {timeout_s:g} s")
    if isinstance(outcome["error"], ConnectionError):
        raise _no_cluster(address, str(outcome["error"]).splitlines()[0]) from None
    if outcome["error"] is not None:
        raise outcome["error"]


def _check_fits(ray, options: RayOptions) -> None:
    """A ValueError when no node has the CPUs and GPUs of one cell (its tasks would wait forever)."""
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    if not any(r.get("CPU", 0) >= options.cpus_per_cell and r.get("GPU", 0) >= options.gpus_per_cell for r in nodes):
        largest = ", ".join(f"{r.get('CPU', 0):g} CPUs / {r.get('GPU', 0):g} GPUs" for r in nodes)
        raise ValueError(f"cpus_per_cell, gpus_per_cell: no Ray node has {options.cpus_per_cell:g} CPUs and {options.gpus_per_cell:g} GPUs for a cell (nodes: {largest})")


@contextlib.contextmanager
def ray_session(options: RayOptions | None) -> Iterator[None]:
    """Connect this process to Ray for the ``with`` block (nothing for None), so that several
    grids share one local Ray; a Ray this block started is shut down at its end."""
    if options is None:
        yield
        return
    ray = import_ray(local=options.address is None)
    owns = _connect(ray, options)
    try:
        yield
    finally:
        if owns:
            ray.shutdown()


def ray_cells(configs: "list[TrainConfig]", options: RayOptions, curve: bool = False) -> Iterator[CellOutcome]:
    """Run each config as a Ray task (``curve``: :func:`run_cell`'s); yield the outcomes in the order the tasks finish.

    A task whose worker died more than ``options.max_retries`` times yields an outcome with
    Ray's error and node "unknown".
    """
    ray = import_ray(local=options.address is None)
    with ray_session(options):
        _check_fits(ray, options)
        task = ray.remote(run_cell).options(num_cpus=options.cpus_per_cell, num_gpus=options.gpus_per_cell, max_retries=options.max_retries)
        fingerprint = code_fingerprint()
        pending = {task.remote(config, fingerprint, options.threads, curve): config for config in configs}
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            config = pending.pop(ready)
            try:
                yield ray.get(ready)
            except ray.exceptions.RayError as error:
                yield CellOutcome(config, None, "unknown", f"{type(error).__name__}: {error}")
