"""The duration-lattice CUDA wavefronts (csrc/cuda/tdt_cuda.cu) emulated on
the CPU: diagonal steps with shuffled threads equal the serial sweep bit for
bit (tests/cuda_emulation/emulate_tdt.cpp, built with ASan and UBSan)."""

from test_cuda_emulation import build_and_run


def test_duration_wavefronts_match_serial_sweep(tmp_path):
    assert build_and_run("emulate_tdt", tmp_path).startswith("ok: 300 duration-lattice cases")
