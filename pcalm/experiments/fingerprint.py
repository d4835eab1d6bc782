"""The fingerprint of the code that produces results: a short hash of pcalm's own source files.

A resumable run (the grid, :mod:`pcalm.experiments.grid`) keeps it beside its results, so that cells trained
by earlier code are not mixed with, or mistaken for, what the current code computes.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

# The whole package (pcalm/, this file's grandparent), not only this folder: every layer's code
# determines the results.
PACKAGE = Path(__file__).resolve().parents[1]
SOURCE_PATTERNS = ("*.py", "*.cpp")


def code_fingerprint(package: Path = PACKAGE) -> str:
    """12 hex digits of the SHA-256 over the relative paths and contents of the package's Python
    and C++ sources (``SOURCE_PATTERNS``, recursively, in sorted order)."""
    return _fingerprint(package.resolve())


@functools.cache
def _fingerprint(package: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(path for pattern in SOURCE_PATTERNS for path in package.rglob(pattern))
    for path in files:
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@functools.cache
def source_commit(package: Path = PACKAGE) -> str:
    """The git commit the package's checkout is at (``git rev-parse HEAD``), with ``+dirty`` when
    its sources differ from that commit; empty when it is not a git checkout."""
    try:
        run = lambda *args: subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True, timeout=30)  # noqa: E731
        head = run("rev-parse", "HEAD")
        if head.returncode != 0:
            return ""
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", ".").stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""
