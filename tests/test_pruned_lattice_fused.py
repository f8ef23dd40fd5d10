"""The fused eager path of get_rnnt_logprobs_pruned (rnnt::_pruned_lattice
and its backward: the kept log-probs placed into the lattice in one kernel,
gathered back in one) against the ATen composition (scatter into a -inf
lattice) that traced calls use: values and gradients w.r.t. the logits, every
rnnt_type, with and without ragged boundaries, HAT, ranges from
get_rnnt_prune_ranges and arbitrary ones (repeated positions included);
gradcheck; CUDA against CPU; the ops' checks and opcheck. (The pruned loss
against the float64 definitions: test_losses.py.)"""

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

import rnnt_ops as R
from composite import Traced, assert_same, finite, random_lattice, weighted_sum

TYPES = ["regular", "modified", "constrained"]


def make_case(seed, rnnt_type, dtype, device, windows=True, with_boundary=True):
    g = torch.Generator().manual_seed(seed)
    B, C = 3, 6
    T, S, boundary, grad_px, grad_py = random_lattice(g, rnnt_type, B, 7, 5, with_boundary)
    s_range = int(torch.randint(1, S + 2, (1,), generator=g))
    if windows:  # contiguous windows, as get_rnnt_prune_ranges makes them
        start = torch.randint(0, S + 2 - s_range, (B, T, 1), generator=g)
        ranges = start + torch.arange(s_range)
    else:  # any positions in [0, S], repeats allowed
        ranges = torch.randint(0, S + 1, (B, T, s_range), generator=g)
    symbols = torch.randint(1, C, (B, S), generator=g)
    logits = torch.randn(B, T, s_range, C, generator=g, dtype=torch.float64)
    return dict(
        logits=logits.to(device=device, dtype=dtype).requires_grad_(), symbols=symbols.to(device),
        ranges=ranges.to(device), boundary=None if boundary is None else boundary.to(device),
        rnnt_type=rnnt_type, grad_px=grad_px.to(device, dtype), grad_py=grad_py.to(device, dtype),
    )


def logprobs_and_grad(case, use_hat_loss=False):
    px, py = torch.ops.rnnt.get_rnnt_logprobs_pruned(
        case["logits"], case["symbols"], case["ranges"], 0, case["boundary"], case["rnnt_type"],
        use_hat_loss)
    weighted = weighted_sum(px, py, case["grad_px"], case["grad_py"])
    (grad,) = torch.autograd.grad(weighted, case["logits"])
    return px, py, grad


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("use_hat_loss", [False, True], ids=["rnnt", "hat"])
def test_fused_matches_composition(rnnt_type, dtype, use_hat_loss, device):
    for seed in range(8):
        case = make_case(seed, rnnt_type, dtype, device, with_boundary=seed % 2 == 1)
        fused = logprobs_and_grad(case, use_hat_loss)
        with Traced():
            composed = logprobs_and_grad(case, use_hat_loss)
        assert_same(fused, composed, dtype)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_repeated_positions_last_one_wins(rnnt_type):
    """Arbitrary ranges (not windows) with repeated positions: the last
    kept entry of a position wins, as the composition's scatter on the CPU;
    every entry gets the gradient of its position."""
    for seed in range(8):
        case = make_case(seed, rnnt_type, torch.float64, "cpu", windows=False)
        with R.value_checks(True):
            fused = logprobs_and_grad(case)
            with Traced():
                composed = logprobs_and_grad(case)
        assert_same(fused, composed, torch.float64)


@pytest.mark.parametrize("rnnt_type", TYPES)
def test_gradcheck(rnnt_type, device):
    case = make_case(2, rnnt_type, torch.float64, device)

    def px_py(logits):
        px, py = torch.ops.rnnt.get_rnnt_logprobs_pruned(
            logits, case["symbols"], case["ranges"], 0, case["boundary"], rnnt_type)
        return finite(px), finite(py)

    assert torch.autograd.gradcheck(px_py, (case["logits"],))


def test_eager_call_runs_fused_kernels(device):
    case = make_case(1, "regular", torch.float32, device)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        logprobs_and_grad(case)
    names = {e.name for e in prof.events()}
    assert {"rnnt::_pruned_lattice", "rnnt::_pruned_lattice_backward"} <= names
    assert "aten::scatter" not in names


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("rnnt_type", TYPES)
def test_cuda_matches_cpu(rnnt_type):
    for dtype in (torch.float32, torch.float64):
        cpu = logprobs_and_grad(make_case(5, rnnt_type, dtype, "cpu"))
        gpu = logprobs_and_grad(make_case(5, rnnt_type, dtype, "cuda"))
        assert_same(cpu, gpu, dtype)


def op_args(device):
    g = torch.Generator().manual_seed(0)
    B, T, Rn, S = 2, 4, 3, 5
    kept = [torch.randn(B, T, Rn, generator=g, dtype=torch.float64).to(device) for _ in range(2)]
    ranges = (torch.randint(0, S + 2 - Rn, (B, T, 1), generator=g) + torch.arange(Rn)).to(device)
    boundary = torch.tensor([[0, 0, 5, 4], [0, 0, 3, 2]], device=device)
    grads = (torch.randn(B, S, T + 1, generator=g, dtype=torch.float64).to(device),
             torch.randn(B, S + 1, T, generator=g, dtype=torch.float64).to(device))
    return kept, ranges, boundary, grads


def test_opcheck(device):
    (px_kept, py_kept), ranges, boundary, (grad_px, grad_py) = op_args(device)
    ops = torch.ops.rnnt
    for rnnt_type, b in [("regular", boundary), ("constrained", None)]:
        torch.library.opcheck(ops._pruned_lattice.default,
                              (px_kept.requires_grad_(), py_kept, ranges, 5, rnnt_type, b))
    torch.library.opcheck(ops._pruned_lattice_backward.default,
                          (grad_px, grad_py, ranges, "regular", boundary))


def test_bad_inputs_raise(device):
    (px_kept, py_kept), ranges, boundary, (grad_px, grad_py) = op_args(device)
    lattice = torch.ops.rnnt._pruned_lattice
    with pytest.raises(RuntimeError, match=r"px_kept must be \[2, 4, 3\]"):
        lattice(px_kept[:, :3], py_kept, ranges, 5, "regular", None)
    with pytest.raises(ValueError, match=r"need 1 <= R <= S \+ 1, got R = 3 and S = 1"):
        lattice(px_kept, py_kept, ranges, 1, "regular", None)
    with pytest.raises(RuntimeError, match=r"ranges must be an int64 \[B\]\[T\]\[R\]"):
        lattice(px_kept, py_kept, ranges.int(), 5, "regular", None)
    with pytest.raises(RuntimeError, match=r"ranges must be \[B\]\[T\]\[R\]"):
        lattice(px_kept, py_kept, ranges[:, :, :2], 5, "regular", None)
    with pytest.raises(RuntimeError, match=r"grad_px must be \[2, 5, 5\]"):
        torch.ops.rnnt._pruned_lattice_backward(grad_px[:, :, :4], grad_py, ranges, "regular", None)


def test_range_values_checked_on_cpu():
    (px_kept, py_kept), ranges, _, (grad_px, grad_py) = op_args("cpu")
    bad = ranges.clone()
    bad[1, 2, 0] = 6
    with pytest.raises(RuntimeError, match=r"ranges value 6 at flat index 18 is outside \[0, S = 5\]"):
        torch.ops.rnnt._pruned_lattice(px_kept, py_kept, bad, 5, "regular", None)
    with pytest.raises(RuntimeError, match=r"ranges value 6 at flat index 18 is outside \[0, S = 5\]"):
        torch.ops.rnnt._pruned_lattice_backward(grad_px, grad_py, bad, "regular", None)
