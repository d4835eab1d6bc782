"""Subcommands of the ``pcalm`` CLI: each module offers ``register(subparsers)``."""
