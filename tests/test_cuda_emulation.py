"""The CUDA kernels' per-thread wavefront steps (csrc/cuda/wavefront.h), run on
the CPU by tests/cuda_emulation/emulate.cpp with checked shared-ring accesses
and compared bit for bit with the serial CPU sweep. Needs only a C++ compiler."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_wavefront_steps_match_serial_sweep(tmp_path):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path / "emulate"
    build = subprocess.run(
        [cxx, "-std=c++17", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         f"-I{ROOT / 'csrc' / 'ops'}", f"-I{ROOT / 'csrc' / 'cuda'}",
         str(ROOT / "tests" / "cuda_emulation" / "emulate.cpp"), "-o", str(exe)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok"), run.stdout
