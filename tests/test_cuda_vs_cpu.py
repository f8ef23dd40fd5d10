"""The CUDA kernels against the CPU kernels on the same inputs: scores, the
forward table p and the gradients, on ragged boxes and on shapes that exercise
every launch path (several warps, diagonals longer than one block, the ring in
global memory). Skips without a GPU."""

import pytest
import torch

from reference import random_boundary

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

TOL = {
    torch.float32: dict(rtol=1e-5, atol=1e-4),
    torch.float64: dict(rtol=1e-10, atol=1e-10),
}
# float32 gradients are built from each node's split of its occupation
# between its two incoming arcs, exp of differences of forward scores as
# large as |p| (here up to ~1500): the rounding of p leaves them absolute
# errors of order eps * max|p|. So the CUDA float32 gradients are checked
# against the float64 CPU kernels with 64 eps max|p|, and scores and p against
# the float32 CPU kernels with TOL.
GRAD_EPS_FACTOR = 64

CASES = [
    # (B, S, T): ragged boxes over a tile-sized lattice, an S=0 lattice,
    # diagonals longer than 512 threads, and a ring too big for shared memory
    # in float64 (3 * 2101 * 8 bytes > 48 KiB).
    (3, 70, 300),
    (4, 0, 9),
    (2, 600, 700),
    (2, 2100, 6),
]


def run_ops(px, py, boundary):
    scores, p = torch.ops.rnnt._mutual_information_forward(px, py, boundary)
    px_grad, py_grad = torch.ops.rnnt._mutual_information_backward(px, py, boundary, p)
    return scores, p, px_grad, py_grad


def case_inputs(B, S, T, modified, dtype):
    """Seeded unnormalised px, py and a ragged boundary for one case (also
    bench/float32_error.py's inputs)."""
    g = torch.Generator().manual_seed(B + S + T)
    px = torch.randn(B, S, T if modified else T + 1, generator=g, dtype=dtype)
    py = torch.randn(B, S + 1, T, generator=g, dtype=dtype)
    boundary = random_boundary(B, S, T, g, modified=modified)
    boundary[0] = torch.tensor([0, 0, S, T])  # one full box
    if B > 2:
        boundary[1, 2] = boundary[1, 0]  # one item with s_begin = s_end
    return px, py, boundary


@pytest.mark.parametrize("B,S,T", CASES)
@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(B, S, T, modified, dtype):
    if modified and S > T:
        pytest.skip("no path in a modified lattice with S > T")
    px, py, boundary = case_inputs(B, S, T, modified, dtype)
    for bnd in (boundary, None):
        cpu = run_ops(px, py, bnd)
        gpu = run_ops(px.cuda(), py.cuda(), None if bnd is None else bnd.cuda())
        for name, a, b in zip(("scores", "p"), cpu, gpu):
            assert b.device.type == "cuda" and b.dtype == dtype, name
            torch.testing.assert_close(b.cpu(), a, **TOL[dtype], msg=name)
        exact = run_ops(px.double(), py.double(), bnd) if dtype == torch.float32 else cpu
        finite_p = exact[1][exact[1].isfinite()]
        grad_atol = GRAD_EPS_FACTOR * torch.finfo(dtype).eps * max(1.0, finite_p.abs().max().item())
        for name, a, b in zip(("px_grad", "py_grad"), exact[2:], gpu[2:]):
            assert b.device.type == "cuda" and b.dtype == dtype, name
            torch.testing.assert_close(b.cpu().to(a.dtype), a, rtol=TOL[dtype]["rtol"],
                                       atol=max(grad_atol, TOL[dtype]["atol"]), msg=name)


def test_item_without_path_and_single_node_boxes():
    px = torch.randn(3, 4, 3, dtype=torch.float64)  # modified
    py = torch.randn(3, 5, 3, dtype=torch.float64)
    boundary = torch.tensor([[0, 0, 4, 3], [2, 1, 2, 1], [0, 0, 2, 3]])
    cpu = run_ops(px, py, boundary)
    gpu = run_ops(px.cuda(), py.cuda(), boundary.cuda())
    assert gpu[0][0] == float("-inf") and gpu[0][1] == 0
    for a, b in zip(cpu, gpu):
        torch.testing.assert_close(b.cpu(), a)


def test_empty_batch_and_current_stream():
    px = torch.zeros(0, 3, 5, device="cuda")
    py = torch.zeros(0, 4, 4, device="cuda")
    scores, p, px_grad, py_grad = run_ops(px, py, None)
    assert scores.shape == (0,) and p.shape == (0, 4, 5)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        px = torch.randn(2, 3, 5, device="cuda")
        py = torch.randn(2, 4, 4, device="cuda")
        out = run_ops(px, py, None)
    stream.synchronize()
    for a, b in zip(run_ops(px.cpu(), py.cpu(), None), out):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-5, atol=1e-4)
