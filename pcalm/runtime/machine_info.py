"""What a timing was measured on: the CPU model, its vector (SIMD) extensions, the vector code
torch dispatches to, and the BLAS torch was built with, so that figures from different machines
are never compared blind (``pcalm bench`` records it in bench.json and bench.md)."""

from __future__ import annotations

import functools
import platform
import re
from typing import Any

import torch

# Flag families of /proc/cpuinfo that name vector extensions: x86 (SSE..AVX-512, FMA, AMX) and
# ARM (NEON is "asimd" in its Features line; SVE). Other flags (fpu, vme, ...) are left out.
SIMD_FLAG = re.compile(r"^(sse\w*|ssse3|avx\w*|fma\w*|f16c|amx\w*|asimd\w*|neon|sve\w*)$")

# Names of the BLAS libraries torch's build line mentions; the first line naming one is kept.
BLAS_LIBRARIES = re.compile(r"Math Kernel Library|OpenBLAS|BLIS|Accelerate|Arm Performance Libraries|NVPL|ATLAS|Eigen", re.IGNORECASE)


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """Model, vendor and SIMD flags (sorted) of the first processor in a /proc/cpuinfo text
    (x86: "model name", "vendor_id", "flags"; ARM: "CPU implementer", "Features")."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor's block is enough: all cores of a machine match
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = (fields.get("flags") or fields.get("Features") or "").split()
    return {
        "cpu_model": fields.get("model name") or fields.get("Model") or fields.get("CPU part"),
        "cpu_vendor": fields.get("vendor_id") or fields.get("CPU implementer"),
        "simd_flags": sorted(flag for flag in set(flags) if SIMD_FLAG.match(flag)),
    }


def parse_torch_config(text: str) -> dict[str, Any]:
    """The BLAS and LAPACK of ``torch.__config__.show()``'s text, and the line naming the BLAS
    library with its version (None where the build line names none)."""
    blas = re.search(r"BLAS_INFO=([\w-]+)", text)
    lapack = re.search(r"LAPACK_INFO=([\w-]+)", text)
    library = next((line.strip(" -") for line in text.splitlines() if BLAS_LIBRARIES.search(line) and "=" not in line), None)
    return {"blas": blas.group(1) if blas else None, "blas_library": library, "lapack": lapack.group(1) if lapack else None}


def cpu_record() -> dict[str, Any]:
    """This machine's CPU (from /proc/cpuinfo where there is one, else ``platform``), the vector
    code torch uses (``torch.backends.cpu.get_cpu_capability()``) and its BLAS."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = parse_cpuinfo(cpuinfo.read())
    except OSError:
        cpu = {"cpu_model": None, "cpu_vendor": None, "simd_flags": []}
    cpu["cpu_model"] = cpu["cpu_model"] or platform.processor() or None
    return {"architecture": platform.machine(), **cpu, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), **parse_torch_config(torch.__config__.show())}


def describe(record: dict[str, Any]) -> str:
    """One line for people: CPU model, SIMD extensions, torch's vector code, BLAS."""
    simd = " ".join(record.get("simd_flags") or []) or "unknown"
    blas = record.get("blas_library") or record.get("blas") or "unknown"
    return f"CPU: {record.get('cpu_model')} ({record.get('cpu_vendor')}, {record.get('architecture')}); SIMD: {simd}; torch CPU capability: {record.get('torch_cpu_capability')}; BLAS: {record.get('blas')} ({blas})"


@functools.cache
def cpu_model() -> str:
    """This machine's CPU model, e.g. "AMD EPYC 9R14 96-Core Processor" (``cpu_record``'s, read
    once per process; "unknown" where it cannot be read): what grid rows record beside their
    thread count, so that a rerun knows whether it may expect the same numbers bit for bit."""
    return cpu_record()["cpu_model"] or "unknown"
