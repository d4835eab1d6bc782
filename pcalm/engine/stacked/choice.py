"""Which way the fast path runs a shape on this machine: the fused kernels or the eager ops, and
the fused run's sweep length SKEW, chosen by measurement once per machine and kept.

The two ways give the same numbers to rounding, and which is faster depends on the CPU (its
BLAS, caches and cores), so it is measured where the code runs rather than assumed. Shapes fall
into classes by width (N <= 32, N <= 128, wider) and depth (L <= 32, deeper); the thread count
(``torch.get_num_threads()``) is part of every choice. At the first use of a kind of run
("inference": PC / PC-ALM, :mod:`pcalm.engine.stacked.run`; "bp": :mod:`pcalm.engine.stacked.bp`)
with a thread count, one representative shape per class (:data:`WIDTH_CLASSES`, :data:`DEPTH_CLASSES`,
batch :data:`BATCH`, :data:`TIMED_STEPS` dense activity steps) is timed both ways and, fused, with
each sweep length of :data:`SKEWS`, round-robin (:data:`ROUNDS` rounds, the first untimed), and each
class takes the way with the lower median time (:func:`pick`: a difference over 10% is always
chosen right; within 10% either way is fine) and the fastest SKEW. This takes about a second.

The choice is kept in a file (:mod:`pcalm.runtime.choice_cache`) under ``PCALM_WAY_CACHE`` or, by
default, beside the fused kernels' build cache (``<TORCH_EXTENSIONS_DIR or torch's build
root>/pcalm_way/``), keyed by this CPU's model and flags, the cores, torch's version and a digest
of the fast path's sources (this folder's Python and C++ and the stacked formulas): stale when
any of them changes, measured again then, and when the file is corrupt. Reproducible: a machine
measures once and every later run, in any process or install of the same code, takes the same way.

Not under load: when the machine is visibly busy (:func:`pcalm.runtime.choice_cache.busy`: the
1-minute load average leaves fewer free cores than the threads), or the timing runs past
:data:`BUDGET_S` (load the lagging average did not show), nothing is kept and the
:data:`DEFAULT` holds (the fused kernels where they are built, SKEW 4, the values tuned on the
Intel machine of docs/benchmarks.md); it is not written, so a later process on a quieter machine
measures. Within one process a choice, once made, is kept.

``PCALM_FUSED=1`` forces the fused kernels (SKEW 4), ``PCALM_FUSED=0`` the eager ops; a device
other than the CPU, or a CPU where the kernels cannot be built, runs the eager ops.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from pcalm.engine.stacked import fused as fused_module
from pcalm.models.residual import ResidualMLP
from pcalm.runtime import choice_cache, kernel_cache

# Steps per diagonal sweep of the fused kernels (fused_steps.cpp) where none was measured: each
# layer's state and weights come into cache once per SKEW steps; the results do not depend on it.
# 3 to 6 ran fastest on the 2-core Intel machine (depth 32, width 128), 1 was 10% slower
# (docs/benchmarks.md).
SKEW = 4
# (largest width of the class, width timed); (largest depth of the class, depth timed). None: no bound.
WIDTH_CLASSES: tuple[tuple[int | None, int], ...] = ((32, 32), (128, 128), (None, 192))
DEPTH_CLASSES: tuple[tuple[int | None, int], ...] = ((32, 16), (None, 48))
BATCH = 64
TIMED_STEPS = 8
SKEWS = (2, 4, 8)
ROUNDS = 4  # the first untimed
# A measurement that takes longer than this was disturbed by load the load average did not show
# yet (it lags by tens of seconds; about a second is expected on 2 idle cores): it is dropped, and
# the DEFAULT holds, unwritten, as on a busy machine.
BUDGET_S = 10.0
KINDS = ("inference", "bp")
WAYS = ("fused", "eager")
DEFAULT = {"way": "fused", "skew": SKEW}
FOLDER = Path(__file__).parent
SOURCES = (*sorted(FOLDER.glob("*.py")), *sorted(FOLDER.glob("*.cpp")), FOLDER.parents[1] / "models" / "residual_stacked.py")

# timer(fused, depth, width, skew): seconds of one run of the representative shape that way.
Timer = Callable[[bool, int, int, int], float]


@dataclass(frozen=True)
class Way:
    """The way a shape runs: ``fused`` or not, the sweep length ``skew``, and why (``source``:
    "measured" here, "cached" from the file, "default" (busy machine, not measured), "forced"
    (PCALM_FUSED), "no kernels" (not buildable here) or "not a CPU"), for ``shape_class`` at
    ``threads`` threads."""

    fused: bool
    skew: int
    source: str
    shape_class: str
    threads: int

    @property
    def name(self) -> str:
        """"fused" or "eager"."""
        return "fused" if self.fused else "eager"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record (summary.json's ``way_choice``)."""
        return {"way": self.name, **asdict(self)}


def _bucket(value: int, classes: tuple[tuple[int | None, int], ...]) -> tuple[int | None, int]:
    return next(c for c in classes if c[0] is None or value <= c[0])


def shape_class(width: int, depth: int) -> str:
    """The class of a shape, e.g. "N<=128 L>32" (width bucket, depth bucket)."""
    (n_top, _), (l_top, _) = _bucket(width, WIDTH_CLASSES), _bucket(depth, DEPTH_CLASSES)
    below_n = [c[0] for c in WIDTH_CLASSES if c[0] is not None]
    below_l = [c[0] for c in DEPTH_CLASSES if c[0] is not None]
    n = f"N<={n_top}" if n_top is not None else f"N>{max(below_n)}"
    l = f"L<={l_top}" if l_top is not None else f"L>{max(below_l)}"
    return f"{n} {l}"


def classes() -> dict[str, tuple[int, int]]:
    """Every class with its timed (depth, width)."""
    return {shape_class(n, l): (l, n) for _, n in WIDTH_CLASSES for _, l in DEPTH_CLASSES}


def pick(eager_s: float, fused_s: float) -> str:
    """The way with the lower time ("fused" on a tie)."""
    return "fused" if fused_s <= eager_s else "eager"


class OverBudget(RuntimeError):
    """A measurement ran past its budget (the machine was busier than its load average said)."""


def measure(kind: str, timer: Timer, rounds: int = ROUNDS, budget_s: float = BUDGET_S) -> dict[str, Any]:
    """Time every class's representative shape both ways (fused with each SKEWS for "inference"),
    round-robin over ``rounds`` rounds with the first untimed, and choose per class.

    Returns:
        {"classes": {class: {"way", "skew", "eager_ms", "fused_ms", "skew_ms": {skew: ms}}}}
        with the medians of the timed rounds (fused_ms at the chosen skew). Raises OverBudget
        once the timed runs have taken more than ``budget_s`` seconds in all.
    """
    skews = SKEWS if kind == "inference" else (SKEW,)
    table: dict[str, Any] = {}
    spent = 0.0
    for name, (depth, width) in classes().items():
        samples: dict[str, list[float]] = {"eager": [], **{str(s): [] for s in skews}}
        for round_ in range(rounds):
            runs = [("eager", False, SKEW), *((str(s), True, s) for s in skews)]
            for label, is_fused, skew in runs if round_ % 2 == 0 else runs[::-1]:
                seconds = timer(is_fused, depth, width, skew)
                spent += seconds
                if spent > budget_s:
                    raise OverBudget(f"the {kind} timing took over {budget_s:g} s")
                if round_ > 0 or rounds == 1:
                    samples[label].append(seconds)
        ms = {label: 1e3 * statistics.median(values) for label, values in samples.items()}
        best = min(skews, key=lambda s: (ms[str(s)], s))
        table[name] = {
            "way": pick(ms["eager"], ms[str(best)]), "skew": best, "eager_ms": ms["eager"], "fused_ms": ms[str(best)],
            "skew_ms": {str(s): ms[str(s)] for s in skews}, "timed_shape": {"depth": depth, "width": width, "batch": BATCH},
        }
    return {"classes": table}


def valid(entry: dict[str, Any]) -> bool:
    """Whether a cached entry is one :func:`measure` wrote: every class, a known way, a skew >= 1."""
    table = entry["classes"]
    return set(table) == set(classes()) and all(
        table[c]["way"] in WAYS and isinstance(table[c]["skew"], int) and table[c]["skew"] >= 1 for c in table
    )


def cache_key() -> dict[str, Any]:
    """What a measured choice holds for: this CPU (model and flags) and its cores, torch, and the
    digest of the fast path's sources."""
    return {
        "cpu": choice_cache.cpu_identity(), "cores": os.cpu_count(), "torch": torch.__version__,
        "torch_git": str(torch.version.git_version), "sources": choice_cache.sources_digest(SOURCES),
    }


def cache_path(key: dict[str, Any]) -> Path:
    """``<PCALM_WAY_CACHE or the kernel cache's root/pcalm_way>/way_<hash of key>.json``."""
    root = os.environ.get("PCALM_WAY_CACHE") or kernel_cache.build_folder("pcalm", "way").parent / "pcalm_way"
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(root) / f"way_{digest}.json"


# The choices this process has made: (kind, threads) -> (entry, source).
_MADE: dict[tuple[str, int], tuple[dict[str, Any], str]] = {}


def table(kind: str, threads: int, timer: Timer | None) -> tuple[dict[str, Any], str] | None:
    """This machine's choice for ``kind`` at ``threads`` threads and where it came from: this
    process's earlier answer; the cache file ("cached"); a measurement ("measured", written to
    the file); or, on a busy machine, the DEFAULT ("default", not written). None where this
    process has made none and ``timer`` is None (nothing is read or measured then)."""
    made = _MADE.get((kind, threads))
    if made is not None or timer is None:
        return made
    key = cache_key()
    path, name = cache_path(key), f"{kind} threads={threads}"
    entry = choice_cache.read_entry(path, key, name, valid)
    if entry is not None:
        made = entry, "cached"
    elif choice_cache.busy(threads):
        made = {"classes": {c: dict(DEFAULT) for c in classes()}}, "default"
    else:
        try:
            entry, measured = choice_cache.measure_once(path, key, name, valid, lambda: measure(kind, timer))
            made = entry, "measured" if measured else "cached"
        except OverBudget:
            made = {"classes": {c: dict(DEFAULT) for c in classes()}}, "default"
    _MADE[(kind, threads)] = made
    return made


def measure_now(kind: str, timer: Timer) -> dict[str, Any]:
    """Measure ``kind``'s choice at torch's thread count now, whatever the load and the file hold,
    write it and use it in this process (``pcalm bench --measure-way``). Raises OverBudget (and
    writes nothing) if the timing runs past BUDGET_S."""
    threads, key = torch.get_num_threads(), cache_key()
    entry, _ = choice_cache.measure_once(cache_path(key), key, f"{kind} threads={threads}", valid, lambda: measure(kind, timer), replace=True)
    _MADE[(kind, threads)] = entry, "measured"
    return entry


def made() -> dict[str, dict[str, Any]]:
    """The choices this process has made, by "<kind> threads=<K>": {"source", "classes"}."""
    return {f"{kind} threads={threads}": {"source": source, **entry} for (kind, threads), (entry, source) in sorted(_MADE.items())}


def choose(kind: str, width: int, depth: int, device: torch.device, timer: Timer | None) -> Way | None:
    """The way a ``kind`` run ("inference" or "bp") of this width and depth takes on ``device``
    with torch's current thread count (see the module docstring); ``timer`` times one run of a
    representative shape when a measurement is due. With ``timer`` None it only reports: None
    where the choice is still to be made in this process."""
    threads, name = torch.get_num_threads(), shape_class(width, depth)
    if device.type != "cpu":
        return Way(False, SKEW, "not a CPU", name, threads)
    forced = fused_module.forced()
    if forced is False:
        return Way(False, SKEW, "forced", name, threads)
    if fused_module.kernels(device) is None:
        return Way(False, SKEW, "no kernels", name, threads)
    if forced:
        return Way(True, SKEW, "forced", name, threads)
    made = table(kind, threads, timer)
    if made is None:
        return None
    entry, source = made
    chosen = entry["classes"][name]
    return Way(chosen["way"] == "fused", int(chosen["skew"]), source, name, threads)


@functools.lru_cache(maxsize=len(WIDTH_CLASSES) * len(DEPTH_CLASSES))
def representative(depth: int, width: int) -> tuple[ResidualMLP, torch.Tensor, torch.Tensor]:
    """A class's timed case, built once per process: the relu residual MLP 64 -> width ... -> 10
    of this depth (seed 0, float32) and a batch of BATCH random rows."""
    model = ResidualMLP(64, width, depth, 10, "relu", seed=0)
    generator = torch.Generator().manual_seed(0)
    return model, torch.randn(BATCH, 64, generator=generator), torch.randn(BATCH, 10, generator=generator)


def seconds(run: Callable[[], object]) -> float:
    """Wall-clock seconds of one call of ``run`` (a timer's unit of work)."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start
