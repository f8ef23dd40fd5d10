"""The fused eager paths of get_rnnt_logprobs and get_rnnt_logprobs_smoothed
(the simple and smoothed losses' px/py: rnnt::_simple_lattice_logprobs,
whose autograd runs the rnnt::_simple_lattice* kernels) against the ATen
compositions that traced calls use, values and gradients, for every
rnnt_type, with and without ragged boundaries, S=0, symbols equal to the
blank, zero smoothing scales; gradcheck; CUDA against CPU; the ops' checks
and opcheck. (The losses against the float64 definitions: test_losses.py.)"""

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from composite import Traced, assert_same, finite, random_lattice, weighted_sum

TYPES = ["regular", "modified", "constrained"]


def make_case(seed, rnnt_type, dtype, device, S=None, with_boundary=True):
    g = torch.Generator().manual_seed(seed)
    B, C = 3, 7
    T, S, boundary, grad_px, grad_py = random_lattice(g, rnnt_type, B, 8, 5, with_boundary, S)
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64)
    symbols = torch.randint(0, C, (B, S), generator=g)  # 0 is the blank: allowed
    to = dict(device=device, dtype=dtype)
    return dict(
        lm=lm.to(**to).requires_grad_(), am=am.to(**to).requires_grad_(),
        symbols=symbols.to(device), boundary=None if boundary is None else boundary.to(device),
        grad_px=grad_px.to(**to), grad_py=grad_py.to(**to), rnnt_type=rnnt_type,
    )


# The simple construction, and the smoothed one with k2's default scales,
# one scale zero (replaced by 1e-20 in both paths), and both zero.
SMOOTHING = [None, (0.1, 0.1), (0.0, 0.25), (0.0, 0.0)]


def logprobs(case, scales=None):
    if scales is None:
        return torch.ops.rnnt.get_rnnt_logprobs(case["lm"], case["am"], case["symbols"], 0,
                                                case["rnnt_type"], case["boundary"])
    return torch.ops.rnnt.get_rnnt_logprobs_smoothed(case["lm"], case["am"], case["symbols"], 0,
                                                     *scales, case["boundary"], case["rnnt_type"])


def logprobs_and_grads(case, scales=None):
    px, py = logprobs(case, scales)
    weighted = weighted_sum(px, py, case["grad_px"], case["grad_py"])
    return (px, py) + torch.autograd.grad(weighted, [case["lm"], case["am"]])


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_boundary", [False, True], ids=["no_boundary", "ragged"])
@pytest.mark.parametrize("scales", SMOOTHING, ids=["simple", "smoothed", "lm_zero", "both_zero"])
def test_fused_matches_composition(rnnt_type, dtype, with_boundary, scales, device):
    for seed in range(6):
        case = make_case(seed, rnnt_type, dtype, device, S=0 if seed == 0 else None,
                         with_boundary=with_boundary)
        fused = logprobs_and_grads(case, scales)
        with Traced():
            composed = logprobs_and_grads(case, scales)
        assert_same(fused, composed, dtype)


@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("scales", SMOOTHING[:2], ids=["simple", "smoothed"])
def test_gradcheck(rnnt_type, scales, device):
    case = make_case(3, rnnt_type, torch.float64, device)

    def px_py(lm, am):
        px, py = logprobs({**case, "lm": lm, "am": am}, scales)
        return finite(px), py

    assert torch.autograd.gradcheck(px_py, (case["lm"], case["am"]))


@pytest.mark.parametrize("scales", SMOOTHING[:2], ids=["simple", "smoothed"])
def test_eager_call_runs_fused_kernels(scales, device):
    case = make_case(1, "regular", torch.float32, device)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        logprobs_and_grads(case, scales)
    names = {e.name for e in prof.events()}
    assert {"rnnt::_simple_lattice_logprobs", "rnnt::_simple_lattice",
            "rnnt::_simple_lattice_backward", "rnnt::_simple_lattice_gather_grads_"} <= names
    with profile(activities=[ProfilerActivity.CPU]) as prof, Traced():
        logprobs_and_grads(case, scales)
    assert "rnnt::_simple_lattice" not in {e.name for e in prof.events()}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("rnnt_type", TYPES)
@pytest.mark.parametrize("scales", SMOOTHING[:2], ids=["simple", "smoothed"])
def test_cuda_matches_cpu(rnnt_type, scales):
    for dtype in (torch.float32, torch.float64):
        cpu = logprobs_and_grads(make_case(4, rnnt_type, dtype, "cpu"), scales)
        gpu = logprobs_and_grads(make_case(4, rnnt_type, dtype, "cuda"), scales)
        assert_same(cpu, gpu, dtype)


def backend_args(device, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    B, S, T, C = 2, 3, 4, 5
    lm = torch.randn(B, S + 1, C, generator=g, dtype=dtype).to(device)
    am = torch.randn(B, T, C, generator=g, dtype=dtype).to(device)
    lm_max, am_max = lm.amax(2, keepdim=True), am.amax(2, keepdim=True)
    M = torch.bmm((lm - lm_max).exp(), (am - am_max).exp().transpose(1, 2))
    symbols = torch.randint(0, C, (B, S), generator=g).to(device)
    boundary = torch.tensor([[0, 0, 3, 4], [0, 0, 2, 3]], device=device)
    grad_px = torch.randn(B, S, T + 1, generator=g, dtype=dtype).to(device)
    grad_py = torch.randn(B, S + 1, T, generator=g, dtype=dtype).to(device)
    return dict(lm=lm, am=am, lm_max=lm_max, am_max=am_max, M=M, symbols=symbols,
                boundary=boundary, grad_px=grad_px, grad_py=grad_py)


@pytest.mark.parametrize("scales", SMOOTHING[:2], ids=["simple", "smoothed"])
def test_inference_mode_matches(scales, device):
    """Below autograd (inference mode) the op runs its forward-only kernel:
    the same px/py."""
    case = make_case(2, "modified", torch.float64, device)
    expected = logprobs(case, scales)
    with torch.inference_mode():
        inferred = logprobs(case, scales)
    assert_same(expected, inferred, torch.float64)


def test_opcheck_logprobs_op(device):
    """rnnt::_simple_lattice_logprobs: schema, fake kernel, Autograd-key
    registration, with and without the smoothed loss's offsets and the
    caller's maxima and exponentials."""
    a = backend_args(device)
    lm, am = a["lm"].requires_grad_(), a["am"].requires_grad_()
    op = torch.ops.rnnt._simple_lattice_logprobs.default
    torch.library.opcheck(op, (lm, am, a["symbols"], 0, "regular", a["boundary"]))
    B, S1, T = a["M"].shape
    offsets = [torch.randn(B, S1 - 1).to(lm).requires_grad_(),
               torch.randn(B, S1).to(lm).requires_grad_(), torch.randn(B, T).to(lm)]
    given = [a["lm_max"], (a["lm"] - a["lm_max"]).exp().detach(),
             a["am_max"], (a["am"] - a["am_max"]).exp().detach()]
    torch.library.opcheck(op, (lm, am, a["symbols"], 0, "constrained", None, *offsets,
                               0.9, 0.8, 0.7, *given))


def test_opcheck(device):
    a = backend_args(device)
    ops = torch.ops.rnnt
    torch.library.opcheck(ops._simple_lattice.default, (
        a["lm"], a["am"], a["lm_max"], a["am_max"], a["M"], a["symbols"], 0, "regular", a["boundary"]))
    B, S1, T = a["M"].shape
    offsets = [torch.randn(B, S1 - 1).to(a["lm"]), torch.randn(B, S1).to(a["lm"]),
               torch.randn(B, T).to(a["lm"])]
    torch.library.opcheck(ops._simple_lattice.default, (
        a["lm"], a["am"], a["lm_max"], a["am_max"], a["M"], a["symbols"], 0, "constrained", None,
        *offsets, 0.9, 0.8, 0.7))
    torch.library.opcheck(ops._simple_lattice_backward.default, (
        a["grad_px"], a["grad_py"], a["M"], "regular", a["boundary"]))
    torch.library.opcheck(ops._simple_lattice_gather_grads_.default, (
        torch.zeros_like(a["lm"]), torch.zeros_like(a["am"]), a["grad_px"], a["grad_py"],
        a["symbols"], 0, "regular", None, 0.9, 0.8))


def lattice_call(a, **changes):
    a = {**a, **changes}
    return torch.ops.rnnt._simple_lattice(a["lm"], a["am"], a["lm_max"], a["am_max"], a["M"],
                                          a["symbols"], a.get("blank", 0),
                                          a.get("rnnt_type", "regular"), a["boundary"])


ERRORS = {
    "M shape": (lambda a: lattice_call(a, M=a["M"][:, :, :3]), RuntimeError, r"M must be \[2, 4, 4\]"),
    "am dtype": (lambda a: lattice_call(a, am=a["am"].float()), RuntimeError, "am must be Double"),
    "lm_max shape": (lambda a: lattice_call(a, lm_max=a["lm_max"][..., 0]), RuntimeError, r"lm_max must be \[2, 4, 1\]"),
    "symbols dtype": (lambda a: lattice_call(a, symbols=a["symbols"].int()), RuntimeError, "symbols must be int64, got Int"),
    "boundary shape": (lambda a: lattice_call(a, boundary=a["boundary"][:, :3]), RuntimeError, r"boundary must be \[B\]\[4\] with B = 2, got \[2, 3\]"),
    "blank": (lambda a: lattice_call(a, blank=5), ValueError, r"termination_symbol must be in \[0, C = 5\)"),
    "rnnt_type": (lambda a: lattice_call(a, rnnt_type="other"), ValueError, "rnnt_type must be"),
    "offset shape": (lambda a: torch.ops.rnnt._simple_lattice(
        a["lm"], a["am"], a["lm_max"], a["am_max"], a["M"], a["symbols"], 0, "regular", None,
        None, a["lm"][:, :, 0], a["am"][:, :2, 0]), RuntimeError, r"frame_offset must be \[2, 4\]"),
    "grad_px shape": (lambda a: torch.ops.rnnt._simple_lattice_backward(a["grad_px"][:, :, :4], a["grad_py"], a["M"], "regular", None), RuntimeError, r"grad_px must be \[2, 3, 5\]"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_inputs_raise(case, device):
    call, error, message = ERRORS[case]
    with pytest.raises(error, match=message):
        call(backend_args(device))


def test_symbol_values_checked_on_cpu():
    a = backend_args("cpu")
    with pytest.raises(RuntimeError, match=r"symbols\[0\]\[0\] = 7 is outside \[0, C = 5\)"):
        lattice_call(a, symbols=a["symbols"].clone().fill_(7))
