"""A per-machine file of choices made by measurement, safe across installs and processes.

A choice that depends on the machine (which of two equal-result code paths is faster here) is
measured once and kept, so that a machine's runs take the same path run after run. The file is
JSON, ``{"key": KEY, "entries": {NAME: ENTRY, ...}}``, where KEY says what the measurements
hold for (:func:`cpu_identity` and whatever the caller adds: library versions, a digest of the
measured code, :func:`sources_digest`). An entry is trusted only when the file parses, its key
equals the caller's and the caller's validator accepts the entry; anything else (a missing,
truncated or hand-edited file, a file from other code or another CPU) is measured again and
replaced. Writers take an ``flock`` on ``<file>.lock`` (released by the kernel when a holder
dies), so two processes starting together measure once; the file is replaced by an atomic
rename, so a reader never sees half of it. Torch-free, and it imports nothing of ours.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

Entry = dict[str, Any]


def cpu_identity() -> list[str]:
    """This CPU's ``model name`` and ``flags`` lines of /proc/cpuinfo (``platform``'s processor
    and machine where there is none): what code built or tuned for this CPU depends on."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        return [line for line in text.splitlines() if line.startswith(("model name", "flags"))][:2]
    except OSError:
        return [platform.processor(), platform.machine()]


def sources_digest(paths: Iterable[Path]) -> str:
    """sha256 over the files' names and bytes, in name order: changes whenever one of them does."""
    digest = hashlib.sha256()
    for path in sorted((Path(p) for p in paths), key=lambda p: (p.name, str(p))):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def busy(threads: int, cores: int | None = None, load: float | None = None) -> bool:
    """Whether other work is visibly using the cores a timing of ``threads`` threads needs:
    the 1-minute load average, less 1 for the measuring process itself, leaves fewer than
    ``threads`` of the ``cores`` free (cores: the process's affinity mask; load: os.getloadavg())."""
    cores = cores if cores is not None else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = load if load is not None else os.getloadavg()[0]
    return load - 1.0 > cores - threads


def read_entry(path: Path, key: dict[str, Any], name: str, valid: Callable[[Entry], bool]) -> Entry | None:
    """The entry ``name`` of the file at ``path`` if the file parses, holds ``key`` and the entry
    passes ``valid``; else None (absent, corrupt, stale or invalid: to be measured again)."""
    entries = _entries(path, key)
    entry = entries.get(name) if entries is not None else None
    return entry if isinstance(entry, dict) and _accepts(valid, entry) else None


def measure_once(
    path: Path, key: dict[str, Any], name: str, valid: Callable[[Entry], bool], measure: Callable[[], Entry], replace: bool = False
) -> tuple[Entry, bool]:
    """The valid entry ``name`` for ``key``, measured here (``measure()``) and written only if no
    valid one is there (``replace``: measured and written in any case), under the file's lock so
    that concurrent processes measure it once.

    Returns:
        (entry, measured): measured is False when the entry was already there (perhaps written
        by another process while this one waited for the lock).
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            entries = _entries(path, key) or {}
            entry = entries.get(name)
            if not replace and isinstance(entry, dict) and _accepts(valid, entry):
                return entry, False
            entry = measure()
            entries = {k: v for k, v in entries.items() if isinstance(v, dict) and _accepts(valid, v)}
            entries[name] = entry
            _write_atomically(path, {"key": key, "entries": entries})
            return entry, True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _entries(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The file's entries if it parses as this module writes it and holds ``key``; else None."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("entries"), dict):
        return None
    return data["entries"]


def _accepts(valid: Callable[[Entry], bool], entry: Entry) -> bool:
    try:
        return bool(valid(entry))
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a private temporary file beside ``path``, then rename it over ``path``."""
    fd, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
