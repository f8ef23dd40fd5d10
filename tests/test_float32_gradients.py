"""float32 gradients against the float64 truth on the shapes of the
comparison with fast_rnnt (bench/float32_error.py), long utterances
(T = 2000) included: rnnt_ops' error is at most that of fast_rnnt's
backward scheme on the same inputs (MARGIN), and
below an absolute bound that does not grow with the scores' magnitude.
CUDA too when present."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from float32_error import CASES, float32_errors  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
# Occupation probabilities are at most 1 and their float32 error stays a few
# thousand eps however large |p| grows (computed as
# exp(alpha + arc + beta - total) they err by up to 3e-2 on these shapes).
ABSOLUTE_BOUND = 1e-3
# How much worse than fast_rnnt's scheme on the same inputs an error may be:
# rounding luck on the CPU; on CUDA the simple loss's lm gradient also sums
# over frames with float32 atomics, in an order that changes between runs.
MARGIN = {"cpu": 1.25, "cuda": 1.5}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("quantity,B,S,T,C,quoted", CASES)
def test_float32_gradient_error(device, quantity, B, S, T, C, quoted):
    ours, fast_rnnt_scheme = float32_errors(quantity, B, S, T, C, device)
    assert ours <= MARGIN[device] * fast_rnnt_scheme, (ours, fast_rnnt_scheme)
    assert ours < ABSOLUTE_BOUND, ours
