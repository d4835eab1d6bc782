"""pcalm bench's machine record: the CPU model, its SIMD extensions (and no other flags), the
vector code torch uses and its BLAS, parsed from /proc/cpuinfo and torch's build configuration."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pcalm.commands.cli import main
from pcalm.runtime.machine_info import cpu_record, describe, parse_cpuinfo, parse_torch_config

X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 popcnt aes avx f16c avx2 bmi2 sha_ni

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu avx512f
"""

ARM = """processor\t: 0
BogoMIPS\t: 48.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm sve
CPU implementer\t: 0x41
CPU part\t: 0xd0c
"""

MKL_CONFIG = """PyTorch built with:
  - GCC 13.3
  - Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for Intel(R) 64 architecture applications
  - Build settings: BLAS_INFO=mkl, BUILD_TYPE=Release, LAPACK_INFO=mkl, USE_MKL=ON,
"""

OPENBLAS_CONFIG = """PyTorch built with:
  - GCC 11.2
  - Build settings: BLAS_INFO=open, BUILD_TYPE=Release, LAPACK_INFO=open, USE_OPENMP=ON,
"""


def test_x86_cpuinfo_gives_model_vendor_and_only_the_simd_flags_of_the_first_processor():
    cpu = parse_cpuinfo(X86)
    assert cpu == {"cpu_model": "AMD EPYC 7B13", "cpu_vendor": "AuthenticAMD", "simd_flags": ["avx", "avx2", "f16c", "fma", "sse", "sse2", "sse4_1", "sse4_2", "ssse3"]}


def test_arm_cpuinfo_gives_neon_and_sve():
    cpu = parse_cpuinfo(ARM)
    assert cpu["simd_flags"] == ["asimd", "asimdhp", "asimdrdm", "sve"]
    assert cpu["cpu_vendor"] == "0x41"


def test_the_blas_comes_from_torch_build_configuration():
    assert parse_torch_config(MKL_CONFIG) == {
        "blas": "mkl",
        "blas_library": "Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for Intel(R) 64 architecture applications",
        "lapack": "mkl",
    }
    assert parse_torch_config(OPENBLAS_CONFIG) == {"blas": "open", "blas_library": None, "lapack": "open"}


def test_this_machine_record_matches_torch():
    record = cpu_record()
    assert record["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["blas"] == parse_torch_config(torch.__config__.show())["blas"]
    assert set(record) >= {"architecture", "cpu_model", "cpu_vendor", "simd_flags", "blas", "blas_library", "lapack"}
    assert f"torch CPU capability: {record['torch_cpu_capability']}" in describe(record)


def test_bench_writes_the_machine_record_and_prints_no_profiler_lines(tmp_path: Path, capfd) -> None:
    assert main(["bench", "--shape", "3,4,2", "--repeats", "1", "--warmup", "0", "--device", "cpu", "--out", str(tmp_path)]) == 0
    printed = capfd.readouterr()
    machine = json.loads((tmp_path / "bench.json").read_text())["machine"]
    assert machine["simd_flags"] == cpu_record()["simd_flags"] and machine["blas"] == cpu_record()["blas"]
    assert (tmp_path / "bench.md").read_text().startswith(describe(machine))
    assert "USDT" not in printed.err and "USDT" not in printed.out  # kineto's lines on file descriptor 2
    # The bar redraws in place ("\r"): it takes one line of the terminal, not broken by other output.
    lines = printed.err.split("\n")  # not splitlines(): that would split at "\r" too
    assert [line for line in lines if "bench:" in line] == [lines[-2]] and lines[-1] == ""
    assert printed.err.count("\n") == 1
