"""Every bad input of rnnt::mutual_information raises a clear RuntimeError
naming the argument (checked in C++, so TorchScript/LibTorch see the same)."""

import pytest
import torch

from rnnt_ops import mutual_information_recursion


def good(device, dtype=torch.float32):
    px = torch.zeros(2, 3, 5, dtype=dtype, device=device)
    py = torch.zeros(2, 4, 4, dtype=dtype, device=device)
    return px, py


def bound(rows, device, dtype=torch.int64):
    return torch.tensor(rows, dtype=dtype, device=device)


CASES = {
    "px rank": (lambda d: (torch.zeros(2, 3, device=d), good(d)[1], None), "px must be 3-D"),
    "py rank": (lambda d: (good(d)[0], torch.zeros(4, 4, device=d), None), "py must be 3-D"),
    "py batch": (lambda d: (good(d)[0], torch.zeros(3, 4, 4, device=d), None), r"py must be \[B\]\[S\+1\]\[T\]"),
    "py symbols": (lambda d: (good(d)[0], torch.zeros(2, 3, 4, device=d), None), r"py must be \[B\]\[S\+1\]\[T\]"),
    "px width": (lambda d: (torch.zeros(2, 3, 7, device=d), good(d)[1], None), r"px must be \[B\]\[S\]\[T\+1\]"),
    "int dtype": (lambda d: (good(d)[0].long(), good(d)[1].long(), None), "px must be float32 or float64"),
    "half dtype": (lambda d: (good(d)[0].half(), good(d)[1].half(), None), "px must be float32 or float64"),
    "mixed dtype": (lambda d: (good(d)[0], good(d)[1].double(), None), "py must have the dtype of px"),
    "boundary shape": (lambda d: (*good(d), bound([[0, 0, 3, 4]], d)), r"boundary must be \[B\]\[4\]"),
    "boundary cols": (lambda d: (*good(d), bound([[0, 0, 3]] * 2, d)), r"boundary must be \[B\]\[4\]"),
    "boundary dtype": (lambda d: (*good(d), bound([[0, 0, 3, 4]] * 2, d, torch.float32)), "boundary must be int64"),
    "s_end > S": (lambda d: (*good(d), bound([[0, 0, 4, 4]] * 2, d)), r"boundary\[0\]"),
    "t_end > T": (lambda d: (*good(d), bound([[0, 0, 3, 4], [0, 0, 3, 5]], d)), r"boundary\[1\]"),
    "begin > end": (lambda d: (*good(d), bound([[2, 0, 1, 4]] * 2, d)), "s_begin <= s_end"),
    "negative": (lambda d: (*good(d), bound([[0, -1, 3, 4]] * 2, d)), "0 <= t_begin"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises(case, device):
    make, message = CASES[case]
    px, py, boundary = make(device)
    # A boundary row outside the lattice is a wrong value (ValueError); a
    # wrong shape or dtype a RuntimeError.
    error = ValueError if message.startswith(("boundary\\[", "s_begin", "0 <=")) else RuntimeError
    with pytest.raises(error, match=message):
        mutual_information_recursion(px, py, boundary)
    with pytest.raises(error, match=message):
        mutual_information_recursion(px, py, boundary, return_grad=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mixed_devices():
    px, py = good("cuda")
    with pytest.raises(RuntimeError, match="same device"):
        mutual_information_recursion(px, py.cpu())
    # A CPU boundary with CUDA px/py is moved to the device.
    boundary = bound([[0, 0, 3, 4]] * 2, "cpu")
    torch.testing.assert_close(
        mutual_information_recursion(px, py, boundary).cpu(),
        mutual_information_recursion(px.cpu(), py.cpu(), boundary),
    )


def test_backward_trusts_the_boundary_its_forward_checked(device):
    """The backward op reads no boundary values (the forward op checked them,
    and reading them is a copy to the host: on CUDA, a sync). Its kernels
    clamp every box into the lattice, so an unchecked bad row can reach
    nothing outside the tables: it acts as the clamped row."""
    g = torch.Generator().manual_seed(0)
    px = torch.randn(2, 3, 5, generator=g).to(device)
    py = torch.randn(2, 4, 4, generator=g).to(device)
    checked = bound([[0, 0, 3, 4], [1, 2, 3, 3]], device)
    outside = bound([[-5, -1, 9, 40], [1, 2, 3, 3]], device)
    _, p = torch.ops.rnnt._mutual_information_forward(px, py, checked)
    want = torch.ops.rnnt._mutual_information_backward(px, py, checked, p)
    got = torch.ops.rnnt._mutual_information_backward(px, py, outside, p)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"boundary\[0\]"):
        torch.ops.rnnt._mutual_information_forward(px, py, outside)
