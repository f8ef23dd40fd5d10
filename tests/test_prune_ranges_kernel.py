"""The fused kernel behind get_rnnt_prune_ranges (rnnt::_prune_ranges, CPU
and CUDA) against an independent Python loop of k2's definition, against
the ATen composition that traced graphs use, and across devices; plus its
input checks. (The ranges' properties after a real simple loss are tested
in test_losses.py.)"""

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

import rnnt_ops as R
from composite import Traced
from reference import random_boundary

TYPES = ["regular", "modified", "constrained"]


def reference_ranges(px_grad, py_grad, boundary, s_range, max_step):
    """k2's window choice, written as plain loops: the best window per frame
    (score: blank occupancy of its rows minus the symbol occupancy entering
    its first row; first maximum), the last frame's window ending at s_end,
    non-decreasing starts, then each start raised so that no later start is
    more than max_step - 1 per frame above it, capped by t * (max_step - 1),
    clamped into [0, S + 1 - s_range]."""
    B, S1, T = py_grad.shape
    S, Rn, step = S1 - 1, s_range, max_step - 1
    out = torch.empty(B, T, Rn, dtype=torch.int64)
    for b in range(B):
        s_end, t_end = (S, T) if boundary is None else (int(boundary[b, 2]), int(boundary[b, 3]))
        start = []
        for t in range(T):
            scores = [sum(float(py_grad[b, s0 + k, t]) for k in range(Rn))
                      - (float(px_grad[b, s0 - 1, t]) if s0 > 0 else 0.0)
                      for s0 in range(S + 2 - Rn)]
            start.append(scores.index(max(scores)))
            if t >= t_end - 1:
                start[t] = max(s_end - (Rn - 1), 0)
        for t in reversed(range(T - 1)):  # non-decreasing lower bound
            start[t] = min(start[t], start[t + 1])
        for t in reversed(range(T - 1)):  # growth below max_step per frame
            start[t] = max(start[t], start[t + 1] - step)
        for t in range(T):
            start[t] = min(max(min(start[t], t * step), 0), S + 1 - Rn)
            out[b, t] = start[t] + torch.arange(Rn)
    return out


def quarter_grid(shape, g, dtype):
    """Values in {0, 1/4, ..., 1}: every sum is exact, so window scores tie
    often and exactly, and the first maximum is well defined."""
    return (torch.randint(0, 5, shape, generator=g) / 4).to(dtype)


def random_case(seed, rnnt_type, dtype):
    g = torch.Generator().manual_seed(seed)
    B, T = int(torch.randint(1, 5, (1,), generator=g)), int(torch.randint(1, 20, (1,), generator=g))
    S = int(torch.randint(0, 9, (1,), generator=g))
    if rnnt_type != "regular":
        S = min(S, T)
    px_cols = T + 1 if rnnt_type == "regular" else T
    px = quarter_grid((B, S, px_cols), g, dtype)
    py = quarter_grid((B, S + 1, T), g, dtype)
    boundary = random_boundary(B, S, T, g, with_begin=False, modified=rnnt_type != "regular")
    return px, py, boundary if seed % 3 else None


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_fused_matches_definition_and_composition(rnnt_type, dtype, device):
    for seed in range(12):
        px, py, boundary = random_case(seed, rnnt_type, dtype)
        S = py.shape[1] - 1
        for s_range in range(1 if rnnt_type != "regular" else 2, S + 2):
            max_step = s_range if rnnt_type == "regular" else 2
            b_dev = None if boundary is None else boundary.to(device)
            fused = torch.ops.rnnt._prune_ranges(px.to(device), py.to(device), b_dev, s_range, max_step)
            ref = reference_ranges(px, py, boundary, s_range, max_step)
            assert torch.equal(fused.cpu(), ref), (seed, s_range)
            # The public op, eager (fused) and traced (the composition), at
            # the window size it widens s_range to.
            width = min(max(s_range, window_need(boundary, S, py.shape[2], rnnt_type)), S + 1)
            if width != s_range:
                ref = reference_ranges(px, py, boundary, width,
                                       width if rnnt_type == "regular" else 2)
            eager = R.get_rnnt_prune_ranges(px.to(device), py.to(device), b_dev, s_range)
            with Traced():
                traced = R.get_rnnt_prune_ranges(px.to(device), py.to(device), b_dev, s_range)
            assert torch.equal(eager.cpu(), ref) and torch.equal(traced.cpu(), ref)


def window_need(boundary, S, T, rnnt_type):
    """The smallest window that keeps a path for every item that has one:
    per item from (s_end, t_end), the batch maximum (checked_values.h)."""
    rows = [(S, T)] if boundary is None else [(int(r[2]), int(r[3])) for r in boundary]
    need = 1
    for s_end, t_end in rows:
        if s_end >= 1 and t_end >= 1:
            if rnnt_type == "regular":
                need = max(need, (s_end - 1) // t_end + 2)
            elif s_end <= t_end:
                need = max(need, 2)
    return need


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_fused_matches_composition_after_simple_loss(rnnt_type):
    """Real occupation probabilities (float32 and float64, ragged): eager
    and traced choose the same windows on the CPU, rounding included."""
    g = torch.Generator().manual_seed(5)
    for dtype in (torch.float32, torch.float64):
        B, T, S, C = 4, 30, 12, 9
        am = torch.randn(B, T, C, generator=g, dtype=torch.float64).to(dtype)
        lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64).to(dtype)
        symbols = torch.randint(1, C, (B, S), generator=g)
        boundary = random_boundary(B, S, T, g, with_begin=False, modified=rnnt_type != "regular")
        _, (px_grad, py_grad) = R.rnnt_loss_simple(lm, am, symbols, 0, boundary, rnnt_type,
                                                   return_grad=True)
        for s_range in (2, 4, 7):
            eager = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
            with Traced():
                traced = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
            assert torch.equal(eager, traced)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("T", [1, 31, 257, 700])
def test_cuda_matches_cpu_bit_for_bit(T):
    """Block sizes from one warp to the 256-thread maximum with several
    frames per thread; real-valued scores, so rounding must agree too."""
    g = torch.Generator().manual_seed(T)
    B, S = 5, 40
    px = torch.rand(B, S, T + 1, generator=g)
    py = torch.rand(B, S + 1, T, generator=g)
    boundary = random_boundary(B, S, T, g, with_begin=False)
    for s_range, max_step in [(1, 2), (4, 4), (S + 1, S + 1)]:
        cpu = torch.ops.rnnt._prune_ranges(px, py, boundary, s_range, max_step)
        gpu = torch.ops.rnnt._prune_ranges(px.cuda(), py.cuda(), boundary.cuda(), s_range, max_step)
        assert torch.equal(cpu, gpu.cpu())


def test_any_boundary_gives_ranges_in_lattice(device):
    """Boundary values far outside the lattice raise; unchecked (value
    checks off) they still give ranges in [0, S], with no overflow."""
    px = torch.rand(2, 4, 8, device=device)
    py = torch.rand(2, 5, 7, device=device)
    for rows in ([[0, 0, 99, 99], [0, 0, -5, -7]], [[0, 0, 2**62, 2**62], [0, 0, -2**62, -2**62]]):
        with pytest.raises(ValueError, match=r"get_rnnt_prune_ranges: boundary\[0\]"):
            R.get_rnnt_prune_ranges(px, py, torch.tensor(rows, device=device), 3)
        with R.value_checks(False):
            ranges = R.get_rnnt_prune_ranges(px, py, torch.tensor(rows, device=device), 3)
        assert ranges.min() >= 0 and ranges.max() <= 4


def test_eager_call_is_one_kernel(device):
    """Eager get_rnnt_prune_ranges runs the fused kernel, not the ~25 ATen
    ops of the composition (which the traced call keeps)."""
    px, py = torch.rand(3, 6, 10, device=device), torch.rand(3, 7, 9, device=device)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        R.get_rnnt_prune_ranges(px, py, None, 3)
    names = {e.name for e in prof.events()}
    assert "rnnt::_prune_ranges" in names and "aten::cummin" not in names
    with profile(activities=[ProfilerActivity.CPU]) as prof, Traced():
        R.get_rnnt_prune_ranges(px, py, None, 3)
    names = {e.name for e in prof.events()}
    assert "rnnt::_prune_ranges" not in names and "aten::cummin" in names


def test_opcheck(device):
    g = torch.Generator().manual_seed(0)
    px, py = torch.rand(2, 4, 8, generator=g), torch.rand(2, 5, 7, generator=g)
    boundary = torch.tensor([[0, 0, 4, 7], [0, 0, 2, 5]])
    for args in [(px, py, boundary, 3, 3), (px[:, :, :7], py, None, 1, 2)]:
        args = tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args)
        torch.library.opcheck(torch.ops.rnnt._prune_ranges.default, args)


ERRORS = {
    "px 2-D": (lambda px, py, b: (px[0], py, b, 2, 2), RuntimeError, "must be 3-D"),
    "int px": (lambda px, py, b: (px.long(), py, b, 2, 2), RuntimeError, "px_grad must be float32 or float64"),
    "dtype mismatch": (lambda px, py, b: (px, py.double(), b, 2, 2), RuntimeError, "py_grad must have the dtype of px_grad"),
    "px width": (lambda px, py, b: (px[:, :, :5], py, b, 2, 2), RuntimeError, r"px_grad must be \[B\]\[S\]\[T\+1\] or \[B\]\[S\]\[T\]"),
    "px rows": (lambda px, py, b: (px[:, :3], py, b, 2, 2), RuntimeError, r"px_grad must be \[B\]\[S\]"),
    "s_range 0": (lambda px, py, b: (px, py, b, 0, 2), ValueError, r"s_range must be in \[1, S\+1 = 5\]"),
    "s_range > S+1": (lambda px, py, b: (px, py, b, 6, 2), ValueError, r"s_range must be in \[1, S\+1 = 5\]"),
    "max_step 0": (lambda px, py, b: (px, py, b, 2, 0), ValueError, r"max_step must be in \[1, S\+2 = 6\]"),
    "boundary int32": (lambda px, py, b: (px, py, b.int(), 2, 2), RuntimeError, r"boundary must be an int64 \[B\]\[4\]"),
    "boundary rows": (lambda px, py, b: (px, py, b[:1], 2, 2), RuntimeError, r"boundary must be \[B\]\[4\] with B = 2, got \[1, 4\]"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_inputs_raise(case, device):
    px, py = torch.rand(2, 4, 8, device=device), torch.rand(2, 5, 7, device=device)
    boundary = torch.tensor([[0, 0, 4, 7], [0, 0, 2, 5]], device=device)
    make_args, error, message = ERRORS[case]
    with pytest.raises(error, match=message):
        torch.ops.rnnt._prune_ranges(*make_args(px, py, boundary))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_mismatch():
    px, py = torch.rand(2, 4, 8, device="cuda"), torch.rand(2, 5, 7)
    with pytest.raises(RuntimeError, match="px_grad and py_grad must be on one device"):
        torch.ops.rnnt._prune_ranges(px, py, None, 2, 2)
    # A CPU boundary with CUDA gradients is moved along, as by the composition.
    boundary = torch.tensor([[0, 0, 4, 7], [0, 0, 2, 5]])
    ranges = R.get_rnnt_prune_ranges(px, py.cuda(), boundary, 3)
    assert torch.equal(ranges.cpu(), R.get_rnnt_prune_ranges(px.cpu(), py, boundary, 3))
