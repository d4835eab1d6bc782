"""Exceptions the command line turns into exit status 2, in a module free of torch (the CLI
catches them without loading the library)."""

from __future__ import annotations


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are missing; the message names the expected path and how to get them."""


class ModelTooLargeError(ValueError, MemoryError):
    """A model, or a training step of it, needs more memory than the machine has available; the
    message gives both (:func:`pcalm.runtime.memory.check_fits`). A ValueError, so the commands
    exit 2 with its one line, and a MemoryError, which is what it is."""
