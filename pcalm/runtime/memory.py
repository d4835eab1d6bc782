"""The machine's available memory, and the one refusal of work that would not fit in it.

What a model or a training step needs is estimated from its shapes where they live
(:mod:`pcalm.models.footprint`, :mod:`pcalm.engine.footprint`); this module reads what the
machine has and words the refusal: one line with both figures (:func:`check_fits`).
"""

from __future__ import annotations

import os

from pcalm.runtime.errors import ModelTooLargeError

MEMINFO = "/proc/meminfo"


def available_bytes() -> int | None:
    """Memory available to a new allocation without swapping: ``MemAvailable`` of /proc/meminfo
    (Linux), else free physical pages x page size (``os.sysconf``); None where neither is known.

    Returns:
        Bytes, or None.
    """
    try:
        with open(MEMINFO) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the kernel writes kB (KiB)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(count: float) -> str:
    """``count`` bytes in binary units, three significant digits: 512 B, 1.50 KiB, 7.28 PiB."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    value, unit = float(count), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.0f} {units[unit]}" if unit == 0 else f"{value:.3g} {units[unit]}"


def check_fits(what: str, needed: int, parts: str = "", available: int | None = None) -> None:
    """Refuse ``what`` when ``needed`` bytes exceed the machine's available memory.

    Arguments:
        what: the work, as the message names it (e.g. "pcalm.ResidualMLP width=8, depth=4 (float32)").
        needed: its estimated bytes; parts: what they are made of, for the message.
        available: the available bytes; None reads them (:func:`available_bytes`); where they
            cannot be read, nothing is refused.

    Raises:
        ModelTooLargeError: one line, "<what> needs about X (<parts>), but Y of memory is available".
    """
    if available is None:
        available = available_bytes()
    if available is None or needed <= available:
        return
    detail = f" ({parts})" if parts else ""
    raise ModelTooLargeError(f"{what} needs about {format_bytes(needed)}{detail}, but {format_bytes(available)} of memory is available on this machine")
