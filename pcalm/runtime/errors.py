"""Exceptions the command line turns into exit status 2, in a module free of torch (the CLI
catches them without loading the library)."""

from __future__ import annotations


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are missing; the message names the expected path and how to get them."""
