"""The shared kernel cache (pcalm/runtime/kernel_cache.py): two installs share one build, a builder
killed mid-build is taken over, a dead holder or a stuck one never makes anyone wait forever.

The lock and keying tests build a tiny stand-in extension (a plain CPython module, under a
second to compile) through a compiler wrapper that logs each compile with the name of the
process it serves (``BUILDER``) and can be held back (while the file ``GATE`` exists), so that "built at most
once" is counted, not inferred. One test builds the real fused kernels from two copies of
pcalm (about 30 s on an idle 2-core machine): the case the cache exists for.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pcalm.runtime import kernel_cache
from tests.helpers import child_process, require, require_tool, run_process

ROOT = Path(__file__).resolve().parents[3]

STAND_IN = textwrap.dedent(
    """
    #include <Python.h>
    #define STR_(x) #x
    #define STR(x) STR_(x)
    #define CAT_(a, b) a##b
    #define CAT(a, b) CAT_(a, b)
    static PyObject* answer(PyObject*, PyObject*) { return PyLong_FromLong(42); }
    static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, "42"}, {nullptr, nullptr, 0, nullptr}};
    static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, STR(TORCH_EXTENSION_NAME), nullptr, -1, methods};
    PyMODINIT_FUNC CAT(PyInit_, TORCH_EXTENSION_NAME)(void) { return PyModule_Create(&module); }
    """
)

LOADER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pcalm.runtime import kernel_cache
    module = kernel_cache.load("standin", Path(sys.argv[1]), ["-O0"], [], announce="the stand-in")
    print(module.answer())
    """
)

# Each compile (-c) appends "$BUILDER" to $COMPILE_LOG, waits while the file $GATE exists, then runs the real compiler.
WRAPPER = textwrap.dedent(
    """\
    #!/bin/sh
    for arg in "$@"; do
      if [ "$arg" = "-c" ]; then
        echo "$BUILDER" >> "$COMPILE_LOG"
        while [ -n "$GATE" ] && [ -e "$GATE" ]; do sleep 0.05; done
        break
      fi
    done
    exec REAL "$@"
    """
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a fresh, empty cache, the logging compiler wrapper and this checkout
    (the cache folder and compiler set in this process too, so that its keys are theirs)."""
    real = shutil.which("g++") or shutil.which("c++")
    require(real is not None, "no C++ compiler (g++ or c++) on PATH: the kernel cache builds C++")
    require_tool("ninja", "torch's extension builder runs ninja")
    wrapper = tmp_path / "bin" / "g++"
    wrapper.parent.mkdir()
    wrapper.write_text(WRAPPER.replace("REAL", real))
    wrapper.chmod(0o755)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", str(wrapper))
    return {
        **os.environ, "TORCH_EXTENSIONS_DIR": str(tmp_path / "cache"), "CXX": str(wrapper),
        "COMPILE_LOG": str(tmp_path / "compiles.log"), "PYTHONPATH": str(ROOT), "BUILDER": "test",
    }


def _source(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "stand_in.cpp"
    path.write_text(STAND_IN)
    return path


def _compiles(env: dict[str, str]) -> list[str]:
    log = Path(env["COMPILE_LOG"])
    return log.read_text().split() if log.exists() else []


def _load(env: dict[str, str], source: Path, builder: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_process([sys.executable, "-c", LOADER, str(source)], timeout, env={**env, "BUILDER": builder})


def test_two_installs_of_one_source_share_one_build(cache: dict[str, str], tmp_path: Path) -> None:
    first, second = _source(tmp_path / "install_a"), _source(tmp_path / "install_b")
    for builder, source in (("a", first), ("b", second), ("a", first), ("b", second)):
        run = _load(cache, source, builder)
        assert run.returncode == 0 and run.stdout.strip() == "42", run.stderr
    assert _compiles(cache) == ["a"]


def test_a_changed_source_or_flag_is_another_build(cache: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(tmp_path / "src")
    key = kernel_cache.build_key(source, ["-O0"], [])
    assert kernel_cache.build_key(source, ["-O1"], []) != key
    monkeypatch.setenv("CXX", "clang++")
    assert kernel_cache.build_key(source, ["-O0"], []) != key
    monkeypatch.setenv("CXX", cache["CXX"])
    source.write_text(STAND_IN + "\n// changed\n")
    assert kernel_cache.build_key(source, ["-O0"], []) != key
    moved = tmp_path / "elsewhere" / "stand_in.cpp"
    moved.parent.mkdir()
    shutil.copyfile(source, moved)
    assert kernel_cache.build_key(moved, ["-O0"], []) == kernel_cache.build_key(source, ["-O0"], [])


def _lock_holder(lock: Path, within_s: float) -> int:
    """The pid the build lock names, waiting up to ``within_s`` for one."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        fields = lock.read_text().split() if lock.exists() else []
        if fields:
            return int(fields[0])
        time.sleep(0.05)
    raise AssertionError(f"nobody took {lock} within {within_s} s")


def test_a_builder_killed_mid_build_is_taken_over_and_nobody_waits_forever(cache: dict[str, str], tmp_path: Path) -> None:
    source = _source(tmp_path / "src")
    gate = tmp_path / "gate"  # compiles wait while it exists: the holder is killed mid-build
    gate.touch()
    env = {**cache, "GATE": str(gate)}
    children = contextlib.ExitStack()
    processes = {
        name: children.enter_context(child_process([sys.executable, "-c", LOADER, str(source)], 300, env={**env, "BUILDER": name},
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for name in ("p", "q")
    }
    errors: dict[str, list[str]] = {name: [] for name in processes}
    readers = [threading.Thread(target=lambda n=n, p=p: errors[n].extend(p.stderr), daemon=True) for n, p in processes.items()]
    for reader in readers:
        reader.start()
    try:
        folder = kernel_cache.build_folder("standin", kernel_cache.build_key(source, ["-O0"], []))
        holder = _lock_holder(folder / kernel_cache.LOCK_NAME, within_s=60)
        killed = next(name for name, process in processes.items() if process.pid == holder)
        survivor = next(name for name in processes if name != killed)
        deadline = time.monotonic() + 60
        while killed not in _compiles(cache) or not any("waiting for the build by" in line for line in errors[survivor]):
            assert time.monotonic() < deadline, f"no compile by the holder or no wait by the other: {errors}"
            time.sleep(0.05)
        assert survivor not in _compiles(cache)  # it waits for the lock rather than building alongside
        processes[killed].send_signal(signal.SIGKILL)
        processes[killed].wait(timeout=10)
        gate.unlink()
        out = processes[survivor].stdout.read()
        processes[survivor].wait(timeout=120)  # bounded: a hang fails here
        survivor_status = processes[survivor].returncode
    finally:
        children.close()  # kills what is left, each child's process group with it
    for reader in readers:
        reader.join(timeout=10)
    assert survivor_status == 0 and out.strip() == "42", errors
    assert f"waiting for the build by pid {holder} on" in "".join(errors[survivor])
    assert _compiles(cache).count(survivor) == 1
    assert _compiles(cache).count(killed) == 1
    assert not list(folder.glob("build-*"))  # the dead builder's folder (torch's lock in it) is gone
    assert _load(cache, source, "late").stdout.strip() == "42" and "late" not in _compiles(cache)


@pytest.mark.parametrize("name_after_s", [0.5, None])
def test_the_waiting_line_names_a_holder_that_writes_its_name_late(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name_after_s: float | None) -> None:
    # A holder takes the lock, then writes its name: on a busy machine it can lose its core in
    # between. The waiting line waits up to NAME_WAIT_S for the name (0.5 s here: it names the
    # pid); a holder that never writes one is "another process" after that.
    monkeypatch.setattr(kernel_cache, "NAME_WAIT_S", 1.5)
    lock, library = tmp_path / kernel_cache.LOCK_NAME, tmp_path / "library.so"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held by this process, through another open file

    def holder() -> None:
        if name_after_s is not None:
            time.sleep(name_after_s)
            os.pwrite(fd, f"{os.getpid()} {kernel_cache._host()}\n".encode(), 0)
        time.sleep(2.5)
        library.touch()  # "built": the waiter stops waiting

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        with kernel_cache._BuildLock(lock, timeout_s=60, library=library):
            pass
    finally:
        thread.join()
        os.close(fd)
    who = f"pid {os.getpid()} on {kernel_cache._host()}" if name_after_s is not None else "another process"
    assert capsys.readouterr().err.count(f"pcalm: waiting for the build by {who} (") == 1


def test_a_live_holder_past_the_timeout_is_a_one_line_error(cache: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(tmp_path / "src")
    monkeypatch.setenv("PCALM_BUILD_TIMEOUT", "1")
    folder = kernel_cache.build_folder("standin", kernel_cache.build_key(source, ["-O0"], []))
    folder.mkdir(parents=True)
    with open(folder / kernel_cache.LOCK_NAME, "w") as lock:  # a live builder (this process) that never finishes
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write(f"{os.getpid()} {socket.gethostname()}\n")
        lock.flush()
        start = time.monotonic()
        with pytest.raises(kernel_cache.KernelBuildError, match=f"held by pid {os.getpid()} on") as error:
            kernel_cache.load("standin", source, ["-O0"], [], announce="the stand-in")
    assert time.monotonic() - start < 10  # 1 s timeout, polled every 0.2 s
    assert "\n" not in str(error.value)


def test_a_lock_kept_by_a_dead_builders_child_is_built_past(cache: dict[str, str], tmp_path: Path) -> None:
    # The builder forked a child that inherited the lock and lives on: the lock is held, but the
    # pid written in it is gone. The next process builds without waiting for the timeout.
    source = _source(tmp_path / "src")
    gone = run_process([sys.executable, "-c", "import os; print(os.getpid())"], 60).stdout.strip()
    env = {**cache, "PCALM_BUILD_TIMEOUT": "600"}
    keeper_code = textwrap.dedent(
        f"""
        import fcntl, os, socket, sys, time
        from pathlib import Path
        from pcalm.runtime import kernel_cache
        folder = kernel_cache.build_folder("standin", kernel_cache.build_key(Path(sys.argv[1]), ["-O0"], []))
        folder.mkdir(parents=True)
        lock = open(folder / kernel_cache.LOCK_NAME, "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write("{gone} " + socket.gethostname() + "\\n")
        lock.flush()
        print("held", flush=True)
        time.sleep(120)
        """
    )
    with child_process([sys.executable, "-c", keeper_code, str(source)], 300, env=env, stdout=subprocess.PIPE, text=True) as keeper:
        assert keeper.stdout.readline().strip() == "held"
        run = _load(env, source, "next", timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "42", run.stderr
    assert _compiles(cache) == ["next"]


def test_two_copies_of_pcalm_share_one_build_of_the_fused_kernels(cache: dict[str, str], tmp_path: Path) -> None:
    # The case the cache is for: two installs (here two copies of the package) on one machine.
    # Keyed without the source path and built from a copy, the second install loads the first's
    # library; before, its build command (the source's path) differed and ninja rebuilt it.
    probe = "import torch, pcalm, pcalm.engine.stacked.fused; assert pcalm.engine.stacked.fused.kernels(torch.device('cpu')) is not None; print(pcalm.__file__)"
    for name in ("a", "b", "a"):
        install = tmp_path / f"install_{name}"
        if not install.exists():
            shutil.copytree(ROOT / "pcalm", install / "pcalm", ignore=shutil.ignore_patterns("__pycache__"))
        run = run_process([sys.executable, "-W", "error::UserWarning", "-c", probe], 600,
                          env={**cache, "PYTHONPATH": str(install), "BUILDER": name, "PCALM_FUSED": "1"}, cwd=install)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip().startswith(str(install))
    assert _compiles(cache) == ["a"]
