"""Grids on Ray (pcalm.experiments.grid_ray) with a real Ray: the same numbers as in process, killed workers
and drivers, two nodes, other code on a node, no ray package.

The first test starts a local Ray in this process (2 CPUs here, loopback only) and shuts it
down. The others share a module-scoped two-node cluster of `ray start` processes (one CPU each)
that drivers run as subprocesses join; it is stopped with `ray stop --force` at the end. Its
nodes use 127.0.0.2: Ray rewrites 127.0.0.1 to the machine's routable address for a
multi-node cluster, and every address in 127.0.0.0/8 is this machine's loopback.
Every wait is bounded (subprocess timeouts, an alarm on the in-process test), and every child
ends with its test (tests.helpers.child_process). Without ray the module skips, except under
CI=true, where it fails.
"""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pcalm.commands.cli import main
from pcalm.experiments.grid import GridSpec, read_cells, run_grid
from pcalm.experiments.grid_ray import LOOPBACK_ONLY, RayOptions, import_ray
from pcalm.experiments.training import TrainConfig
from tests.helpers import child_process, require, run_process


def _ray_installed() -> bool:
    """Whether ray imports, imported the way pcalm does it first (a local Ray on loopback only)."""
    try:
        import_ray(local=True)
    except ValueError:
        return False
    return True


require(_ray_installed(), "ray is not installed (extra pcalm[ray])", module_level=True)
# One worker runs them all, in turn: they share a cluster, and `ray stop --force` ends every Ray here.
pytestmark = pytest.mark.xdist_group("ray")

REPO = Path(__file__).resolve().parents[3]
CELLS = 12  # widths 4, 8 x depth 2 x seeds 0, 1 x the three algorithms, relu
# N = L = 32 makes eta's Lanczos vectors (64 x 32 x 31 activities) long enough for a threaded
# BLAS to sum them in another order than a single-threaded one: both engines must give a cell
# the same BLAS thread count (its own, pcalm.runtime.threads.run_threads).
SMALL = GridSpec(widths=(4, 32), depths=(2, 32), activations=("relu",), seeds=(0,), base=TrainConfig(epochs=1))
GRID_ARGS = ["grid", "--widths", "4", "8", "--depths", "2", "--activations", "relu", "--seeds", "0", "1", "--quiet"]
KEY = ("algo", "width", "depth", "seed")
NODE_IP = "127.0.0.2"


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((NODE_IP, 0))
        return s.getsockname()[1]


def _env() -> dict:
    """The environment of the cluster and its drivers: this worktree's pcalm, no token (a
    loopback-only test cluster), workers at niceness 0 (as docs/scaling.md starts a cluster),
    and Ray's cluster mode (which the local Ray turns off here)."""
    env = {k: v for k, v in os.environ.items() if k != LOOPBACK_ONLY}
    return {**env, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0"}


def _pcalm(*args, **kwargs):
    return run_process([sys.executable, "-m", "pcalm.commands.cli", *args], 300, env=_env(), **kwargs)


@pytest.fixture
def alarm():
    """Fail a test that runs past 300 s (a hung Ray) instead of hanging the suite."""
    def expire(signum, frame):
        raise TimeoutError("the Ray test ran past 300 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(300)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def cluster():
    """A two-node Ray cluster on this machine (one CPU per node); yields its address."""
    address = f"{NODE_IP}:{_free_port()}"
    head = ["ray", "start", "--head", "--port", address.split(":")[1], "--num-cpus", "1", "--node-ip-address", NODE_IP, "--include-dashboard=false"]
    worker = ["ray", "start", "--address", address, "--num-cpus", "1", "--node-ip-address", NODE_IP]
    try:
        for command in (head, worker):
            started = run_process(command, 120, end_group=False, env=_env())  # its daemons are the cluster
            assert started.returncode == 0, started.stdout + started.stderr
        yield address
    finally:
        run_process(["ray", "stop", "--force"], 120, env=_env())


def _comparable(cells):
    """The rows without what may differ between engines: where and how long a cell ran."""
    return {cell.key: {k: v for k, v in vars(cell).items() if k not in ("wall_time_s", "node")} for cell in cells}


def test_a_local_ray_gives_the_in_process_numbers_bit_for_bit(tmp_path, one_thread, alarm):
    in_process = run_grid(SMALL, tmp_path / "here", progress=False)
    on_ray = run_grid(SMALL, tmp_path / "ray", progress=False, ray=RayOptions(cpus_per_cell=1))
    import ray  # after pcalm's first import of it, which makes a local Ray loopback-only

    assert not ray.is_initialized()  # the local Ray it started is shut down
    assert (on_ray.ran, on_ray.failed) == (CELLS, [])
    # Every metric equal as float64 values (NaN only in BP's eta, compared as text).
    assert {k: {n: repr(v) for n, v in row.items()} for k, row in _comparable(on_ray.cells).items()} == {
        k: {n: repr(v) for n, v in row.items()} for k, row in _comparable(in_process.cells).items()
    }
    assert len(on_ray.cells) == CELLS and all(c.node.startswith("127.0.0.1/") for c in on_ray.cells)  # loopback only
    assert (tmp_path / "ray" / "runs" / "pc-alm_N32_L32_relu_s0" / "metrics.csv").read_text() != ""


def test_a_local_rays_workers_run_at_normal_priority(alarm):
    # Ray's default niceness of 15 let every other process on a busy machine starve the cells.
    from pcalm.experiments.grid_ray import import_ray, ray_session

    ray = import_ray(local=True)
    with ray_session(RayOptions()):
        niceness = ray.get(ray.remote(lambda: os.nice(0)).options(num_cpus=1).remote())
    assert not ray.is_initialized()
    assert niceness == os.nice(0) == 0


def test_check_passes_ray_on_to_c4(tmp_path, monkeypatch):
    import paper_checks.c4_grid as c4

    tiny = GridSpec((4,), (2,), ("relu",), seeds=(0,), base=TrainConfig(dataset="digits", epochs=1))
    monkeypatch.setattr(c4, "grids", lambda ctx: [("digits", tiny)])
    assert main(["check", "--only", "C4", "--ray", "--out", str(tmp_path)]) in (0, 1)  # a 1-cell grid may fail the claim
    (verdict,) = json.loads((tmp_path / "results.json").read_text())["verdicts"]
    (ray_cells,) = [c for c in verdict["criteria"] if c["name"] == "cells whose Ray task failed (no result)"]
    assert ray_cells["passed"]
    assert {r["node"][:10] for r in _rows(tmp_path / "c4_grid_digits_quick" / "cells.csv")} == {"127.0.0.1/"}


def test_two_nodes_share_a_grid(cluster, tmp_path):
    out = tmp_path / "grid"
    finished = _pcalm(*GRID_ARGS, "--epochs", "1", "--ray", cluster, "--out", str(out))
    assert finished.returncode == 0, finished.stderr
    rows = _rows(out / "cells.csv")
    assert len(rows) == CELLS and len({tuple(r[k] for k in KEY) for r in rows}) == CELLS
    nodes = {r["node"] for r in rows}
    assert len(nodes) == 2 and all(n.startswith(f"{NODE_IP}/") for n in nodes), nodes


def _running_cell_tasks() -> list[int]:
    """Pids of Ray workers executing a cell's task now (Ray titles them ray::run_cell)."""
    listing = run_process(["ps", "-eo", "pid=,args="], 30).stdout
    return [int(line.split(None, 1)[0]) for line in listing.splitlines() if line.split(None, 1)[1:] and line.split(None, 1)[1].startswith("ray::run_cell")]


def test_a_killed_worker_is_retried_and_every_cell_lands_once(cluster, tmp_path):
    out = tmp_path / "grid"
    command = [sys.executable, "-m", "pcalm.commands.cli", *GRID_ARGS, "--epochs", "3", "--ray", cluster, "--out", str(out)]
    with child_process(command, 500, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as driver:
        deadline, victims = time.monotonic() + 240, []
        while not victims:
            assert driver.poll() is None, "the grid ended before a task could be killed: " + driver.communicate()[1]
            assert time.monotonic() < deadline, "no running cell task in 240 s"
            victims = _running_cell_tasks()
            time.sleep(0.02)
        os.kill(victims[0], signal.SIGKILL)
        stdout, stderr = driver.communicate(timeout=240)
    assert driver.returncode == 0, stderr
    rows = _rows(out / "cells.csv")
    assert len(rows) == CELLS and len({tuple(r[k] for k in KEY) for r in rows}) == CELLS
    assert all(r["status"] == "ok" for r in rows)


def test_a_killed_driver_and_a_rerun_finish_only_the_missing_cells(cluster, tmp_path):
    out = tmp_path / "grid"
    command = [*GRID_ARGS, "--epochs", "3", "--ray", cluster, "--out", str(out)]
    cells = out / "cells.csv"
    with child_process([sys.executable, "-m", "pcalm.commands.cli", *command], 300, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE) as driver:
        deadline = time.monotonic() + 240
        while not (cells.exists() and len(_rows(cells)) >= 1):
            assert driver.poll() is None, driver.communicate()
            assert time.monotonic() < deadline, "no row appeared in 240 s"
            time.sleep(0.02)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
    before = cells.read_text().splitlines(keepends=True)
    done = len(read_cells(cells))
    assert 1 <= done < CELLS, f"the kill came after {done} of {CELLS} cells: it must land mid-grid for this test to mean anything"
    finished = _pcalm(*command)
    assert finished.returncode == 0, finished.stderr
    assert f"ran {CELLS - done} cells, skipped {done} already done" in finished.stdout
    after = cells.read_text().splitlines(keepends=True)
    assert after[: done + 1] == before[: done + 1]  # header and finished rows untouched
    rows = _rows(cells)
    assert len(after) == CELLS + 1 and len({tuple(r[k] for k in KEY) for r in rows}) == CELLS
    by_seed = {(r["algo"], r["width"], r["seed"]): r["test_mse"] for r in rows}
    assert all(by_seed[(a, w, "0")] != by_seed[(a, w, "1")] for a, w, _ in by_seed)  # the seeds' numbers differ


def test_a_node_with_other_code_fails_its_cells_clearly(cluster, tmp_path):
    # The driver claims other code than the pcalm the workers import: every cell must fail, named.
    args = ["grid", "--widths", "4", "--depths", "2", "--activations", "relu", "--seeds", "0", "--algos", "bp", "pc", "--epochs", "1", "--quiet", "--ray", cluster, "--out", str(tmp_path / "grid")]
    script = f"import sys, pcalm.experiments.grid_ray as g; g.code_fingerprint = lambda: '0123456789ab'; from pcalm.commands.cli import main; sys.exit(main({args!r}))"
    finished = run_process([sys.executable, "-c", script], 300, env=_env())
    assert finished.returncode == 1, finished.stderr
    assert "2 cells failed" in finished.stderr
    for cell in ("bp_N4_L2_relu_s0", "pc_N4_L2_relu_s0"):
        assert f"{cell} on {NODE_IP}/" in finished.stderr
    assert "CodeMismatchError" in finished.stderr and "the driver's has 0123456789ab" in finished.stderr
    assert read_cells(tmp_path / "grid" / "cells.csv") == []


def test_a_cell_larger_than_every_node_exits_2(cluster, tmp_path):
    finished = _pcalm(*GRID_ARGS, "--epochs", "1", "--ray", cluster, "--cpus-per-cell", "2", "--out", str(tmp_path / "grid"))
    assert finished.returncode == 2, finished.stderr
    assert "no Ray node has 2 CPUs and 0 GPUs for a cell (nodes: 1 CPUs / 0 GPUs, 1 CPUs / 0 GPUs)" in finished.stderr


def test_ray_without_the_package_exits_2_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    assert main([*GRID_ARGS, "--epochs", "1", "--ray", "--out", str(tmp_path / "grid")]) == 2
    assert "pip install 'pcalm[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "grid").exists()  # refused before anything was written


@pytest.mark.parametrize("options, message", [(dict(cpus_per_cell=0), "cpus_per_cell"), (dict(gpus_per_cell=-1), "gpus_per_cell"), (dict(address=" "), "address")])
def test_bad_ray_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        RayOptions(**options)
    assert RayOptions(cpus_per_cell=2.5).threads == 2 and RayOptions(cpus_per_cell=0.5).threads == 1


def test_bad_ray_options_exit_2(tmp_path, capsys):
    assert main([*GRID_ARGS, "--epochs", "1", "--ray", "--cpus-per-cell", "0", "--out", str(tmp_path / "grid")]) == 2
    assert "cpus_per_cell: must be a positive number" in capsys.readouterr().err


def test_an_address_where_no_cluster_answers_is_exit_2_within_30_s(tmp_path):
    # Port 1 refuses the connection: the probe fails at once, before the bar or any file.
    command = [sys.executable, "-m", "pcalm.commands.cli", "grid", "--widths", "8", "--depths", "4", "--activations", "relu", "--algos", "bp",
               "--seeds", "0", "--epochs", "1", "--ray", "127.0.0.1:1", "--out", str(tmp_path / "X")]
    started = time.monotonic()
    finished = run_process(command, 30, env=_env())  # killed (and failed) at 30 s
    assert time.monotonic() - started < 30
    assert finished.returncode == 2, finished.stderr
    assert "Traceback" not in finished.stderr
    (line,) = finished.stderr.strip().splitlines()
    assert line.startswith("pcalm grid: ray: no Ray cluster answers at 127.0.0.1:1 (") and "start one there with `ray start --head --port 1`" in line
    assert not (tmp_path / "X").exists()


def test_a_port_that_accepts_but_is_no_ray_is_given_up_on_in_bounded_time():
    # A listener that accepts and never answers: Ray's own wait is minutes long; ours is bounded.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        script = f"import sys, pcalm.experiments.grid_ray as g\ntry:\n    g._join(g.import_ray(local=False), {address!r}, timeout_s=3)\nexcept ValueError as e:\n    print(e)\n    sys.exit(2)"
        started = time.monotonic()
        finished = run_process([sys.executable, "-c", script], 60, env=_env())
        took = time.monotonic() - started
    assert finished.returncode == 2, finished.stderr
    assert finished.stdout.strip() == f"ray: no Ray cluster answers at {address} (ray.init did not connect within 3 s); start one there with `ray start --head --port {address.split(':')[1]}`, or give --ray alone for a local Ray"
    assert took < 30
