"""The ``--out`` folder of a command: checked before any work, marked when a run is interrupted.

Torch-free, so that a bad ``--out`` is refused in the time it takes to parse the arguments.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

MIN_FREE_MIB = 64  # the largest outputs (C4's grid, figures) are a few MiB
INTERRUPTED_MARKER = "INTERRUPTED.json"


class OutputDirError(ValueError):
    """``--out`` cannot hold the results; the message names the path and why."""


def check_output_dir(path: str | Path) -> None:
    """Raise OutputDirError unless ``path`` is a folder, or can be made one, that this process
    can write in and whose disk has at least MIN_FREE_MIB MiB free. Writes nothing that stays:
    the probe is a nameless temporary file in the nearest existing folder."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing.parent != existing:
        if existing.is_symlink():
            raise OutputDirError(f"--out {path}: {existing} is a link to nothing")
        existing = existing.parent
    if not existing.is_dir():
        where = "is not a folder" if existing == path else f"cannot be made: {existing} is not a folder"
        raise OutputDirError(f"--out {path}: {where}")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise OutputDirError(f"--out {path}: cannot write in {existing} ({error.strerror or type(error).__name__})") from None
    disk = os.statvfs(existing)
    free_mib = disk.f_bavail * disk.f_frsize / 2**20
    if free_mib < MIN_FREE_MIB:
        raise OutputDirError(f"--out {path}: only {free_mib:.0f} MiB free on its disk, at least {MIN_FREE_MIB} MiB needed")


def mark_interrupted(path: str | Path, command: str, signal_name: str) -> bool:
    """Write ``INTERRUPTED.json`` (command, signal, UTC time) into ``path``; False if ``path`` is
    not a folder (the run wrote nothing yet) or cannot take the file."""
    path = Path(path)
    record = {"command": command, "signal": signal_name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        (path / INTERRUPTED_MARKER).write_text(json.dumps(record) + "\n")
    except OSError:
        return False
    return True


def interruption(path: str | Path) -> dict | None:
    """The record of the interrupted run ``path`` holds, or None."""
    try:
        return json.loads((Path(path) / INTERRUPTED_MARKER).read_text())
    except (OSError, ValueError):
        return None


def clear_interrupted(path: str | Path) -> None:
    """Remove the marker: the run into ``path`` finished."""
    (Path(path) / INTERRUPTED_MARKER).unlink(missing_ok=True)
