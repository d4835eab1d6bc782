"""A build cache for torch C++ extensions that installs and processes can share.

:func:`load` compiles one C++ source with ``torch.utils.cpp_extension`` at most once per
machine and build, and loads the finished library directly afterwards (no compiler, no ninja,
no lock). The cache folder is ``<root>/<prefix>_<key>/`` (root: ``TORCH_EXTENSIONS_DIR`` or
torch's default), where ``key`` hashes what determines the binary (:func:`build_key`): the
source's text, the compiler and its flags, this CPU's model and instruction-set flags, torch's
version and C++ ABI, Python's version and extension suffix. No install's path enters it, so two
installs of the same source (two virtual environments, a checkout and a clone) share one
library and never rebuild each other's. The folder holds

- ``<prefix>_<key>.so``: the finished library, moved in by an atomic rename once built;
- ``build.lock``: held (``flock``) by the one process building, and naming it (``pid host``).
  The kernel releases the lock when its holder dies, so a killed build is taken over by the
  next process; a waiter gives up after ``PCALM_BUILD_TIMEOUT`` seconds (default 600);
- ``build-<host>-<pid>/``: a builder's private folder, with the source copied in and torch's
  own ninja files and lock; a dead builder's folder is removed by the next builder, and a
  compiler the dead builder left running writes nowhere anyone else reads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import sys
import sysconfig
import time
from pathlib import Path
from types import ModuleType

import torch

from pcalm.runtime.choice_cache import cpu_identity

LOCK_NAME = "build.lock"
POLL_S = 0.2
# A holder writes its pid and host right after it takes the lock; the waiting line waits this long
# for them (on a busy machine the holder can lose its core in between) before it says "another
# process".
NAME_WAIT_S = 2.0
DEFAULT_TIMEOUT_S = 600.0


class KernelBuildError(RuntimeError):
    """The library could not be built or loaded here; the message is one line saying why."""


def build_key(source: Path, extra_cflags: list[str], extra_ldflags: list[str]) -> str:
    """A short hash of what determines the compiled library: the source's text, the compiler
    (``CXX``) and flags, this CPU's model and flags (``-march=native`` code is not portable),
    torch's version and C++ ABI, and Python's version and extension suffix."""
    parts = [
        hashlib.sha256(source.read_bytes()).hexdigest(), os.environ.get("CXX", "c++"), *extra_cflags, "--", *extra_ldflags, *cpu_identity(),
        torch.__version__, str(torch.version.git_version), str(torch._C._GLIBCXX_USE_CXX11_ABI),
        sys.version, str(sysconfig.get_config_var("EXT_SUFFIX")),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def build_folder(prefix: str, key: str) -> Path:
    """``<TORCH_EXTENSIONS_DIR or torch's default build root>/<prefix>_<key>``."""
    from torch.utils import cpp_extension

    return Path(os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root()) / f"{prefix}_{key}"


def load(prefix: str, source: Path, extra_cflags: list[str], extra_ldflags: list[str], announce: str) -> ModuleType:
    """The extension module built from ``source`` (its module name ``<prefix>_<key>``), from the
    cache when there, else built here (``announce`` is printed to stderr first) or by the
    process already building it, whose end is awaited.

    Raises KernelBuildError (one line) when it cannot: no compiler or ninja, a failed build, an
    unwritable cache, or a live builder holding the lock past ``PCALM_BUILD_TIMEOUT`` seconds.
    """
    key = build_key(source, extra_cflags, extra_ldflags)
    name = f"{prefix}_{key}"
    folder = build_folder(prefix, key)
    library = folder / f"{name}{_suffix()}"
    if library.exists():
        return _import(name, library)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _BuildLock(folder / LOCK_NAME, _timeout_s(), library):
            if library.exists():  # built while we waited
                return _import(name, library)
            return _build(name, source, extra_cflags, extra_ldflags, folder, library, announce)
    except KernelBuildError:
        raise
    except (RuntimeError, OSError, ImportError) as error:  # no compiler or ninja, an unwritable cache, a failed build
        lines = str(error).strip().splitlines()
        raise KernelBuildError(lines[0] if lines else type(error).__name__) from error


def _build(name: str, source: Path, cflags: list[str], ldflags: list[str], folder: Path, library: Path, announce: str) -> ModuleType:
    """Build in a private folder from a copy of the source, then move the library in place."""
    from torch.utils import cpp_extension

    _remove_dead_builders(folder)
    private = folder / f"build-{_host()}-{os.getpid()}"
    shutil.rmtree(private, ignore_errors=True)  # a dead process of the same pid left it
    private.mkdir()
    copy = private / source.name
    shutil.copyfile(source, copy)
    print(f"pcalm: building {announce} ...", file=sys.stderr, flush=True)
    module = cpp_extension.load(
        name=name, sources=[str(copy)], extra_cflags=cflags, extra_ldflags=ldflags, build_directory=str(private), verbose=False,
    )
    os.replace(private / library.name, library)
    shutil.rmtree(private, ignore_errors=True)
    return module


def _import(name: str, library: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, library)
    if spec is None or spec.loader is None:
        raise KernelBuildError(f"{library}: not a loadable extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _suffix() -> str:
    from torch.utils import cpp_extension

    return cpp_extension.LIB_EXT


def _timeout_s() -> float:
    text = os.environ.get("PCALM_BUILD_TIMEOUT", "")
    try:
        value = float(text) if text.strip() else DEFAULT_TIMEOUT_S
    except ValueError:
        raise KernelBuildError(f"PCALM_BUILD_TIMEOUT: expected seconds, got {text!r}") from None
    if not value > 0:
        raise KernelBuildError(f"PCALM_BUILD_TIMEOUT: must be > 0, got {text!r}")
    return value


def _host() -> str:
    return socket.gethostname()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove_dead_builders(folder: Path) -> None:
    """Remove the private folders of this host's builders whose process is gone."""
    for private in folder.glob(f"build-{_host()}-*"):
        pid = private.name.rsplit("-", 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(private, ignore_errors=True)


class _BuildLock:
    """``flock`` on ``path`` for the builder, with ``pid host`` written in it; the kernel
    releases it when the holder dies. Waiting ends when the lock is ours, when ``library``
    appears (built by the holder), when the holder is a dead process of this host (the lock
    lives on in a child it forked: the build goes ahead without the lock, safe since each
    builder has its own folder and the library arrives by rename), or after ``timeout_s``
    (KernelBuildError naming the holder)."""

    def __init__(self, path: Path, timeout_s: float, library: Path) -> None:
        self.path, self.timeout_s, self.library = path, timeout_s, library
        self.fd: int | None = None

    def __enter__(self) -> "_BuildLock":
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        start = time.monotonic()
        deadline, announced = start + self.timeout_s, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {_host()}\n".encode(), 0)
                self.fd = fd
                return self
            holder = self._holder()
            if self.library.exists() or (holder is not None and holder[1] == _host() and not _alive(holder[0])):
                os.close(fd)
                return self
            if time.monotonic() > deadline:
                os.close(fd)
                who = f"pid {holder[0]} on {holder[1]}" if holder else "another process"
                raise KernelBuildError(f"{self.path} is held by {who} for more than {self.timeout_s:g} s (PCALM_BUILD_TIMEOUT)")
            if not announced and (holder is not None or time.monotonic() - start > NAME_WAIT_S):
                who = f"pid {holder[0]} on {holder[1]}" if holder else "another process"
                print(f"pcalm: waiting for the build by {who} ({self.path}) ...", file=sys.stderr, flush=True)
                announced = True
            time.sleep(POLL_S)

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            import fcntl

            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def _holder(self) -> tuple[int, str] | None:
        """(pid, host) written by the lock's holder, or None if it has not written yet."""
        try:
            fields = self.path.read_text().split()
        except OSError:
            return None
        if len(fields) != 2 or not fields[0].isdigit():
            return None
        return int(fields[0]), fields[1]
