"""The Ray options of ``pcalm grid`` and ``pcalm check``: --ray [ADDRESS], --cpus-per-cell, --gpus-per-cell."""

from __future__ import annotations

import argparse

from pcalm.experiments.grid_ray import RayOptions, probe_address


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    """--ray [ADDRESS], --cpus-per-cell, --gpus-per-cell (of ``grid`` and ``check``)."""
    parser.add_argument(
        "--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
        help="run each cell as a Ray task (needs pcalm[ray]): alone, on a local Ray over all cores, shut down at the end; "
        "with ADDRESS ('auto' or host:port), on that cluster",
    )
    parser.add_argument("--cpus-per-cell", type=float, default=1.0, help="with --ray: CPUs per cell's task, also its torch threads (default 1)")
    parser.add_argument("--gpus-per-cell", type=float, default=0.0, help="with --ray: GPUs per cell's task, fractions share one (default 0)")


def ray_options(args: argparse.Namespace) -> RayOptions | None:
    """The RayOptions of --ray/--cpus-per-cell/--gpus-per-cell; None without --ray. A host:port
    where nothing answers is refused here (ValueError, exit 2), before any work
    (:func:`pcalm.experiments.grid_ray.probe_address`)."""
    if args.ray is None:
        return None
    options = RayOptions(address=None if args.ray == "local" else args.ray, cpus_per_cell=args.cpus_per_cell, gpus_per_cell=args.gpus_per_cell)
    if options.address is not None:
        probe_address(options.address)
    return options
