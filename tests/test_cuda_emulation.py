"""The CUDA kernels' per-thread work, run on the CPU and compared bit for bit
with the CPU kernels' serial sweeps: the recursion's wavefront steps
(csrc/cuda/wavefront.h, by tests/cuda_emulation/emulate.cpp, with checked
shared-ring accesses) and the prune-range block's phases
(csrc/cuda/prune_block.h, by tests/cuda_emulation/emulate_prune.cpp). Built
with AddressSanitizer and UBSan. Needs only a C++ compiler."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def build_and_run(program: str, tmp_path) -> str:
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path / program
    build = subprocess.run(
        [cxx, "-std=c++17", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         f"-I{ROOT / 'csrc' / 'ops'}", f"-I{ROOT / 'csrc' / 'cuda'}",
         str(ROOT / "tests" / "cuda_emulation" / f"{program}.cpp"), "-o", str(exe)],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_wavefront_steps_match_serial_sweep(tmp_path):
    assert build_and_run("emulate", tmp_path).startswith("ok")


def test_prune_block_phases_match_serial_sweep(tmp_path):
    assert build_and_run("emulate_prune", tmp_path).startswith("ok: 600 prune-block cases")
