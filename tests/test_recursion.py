"""rnnt::mutual_information against the float64 references in reference.py."""

import pytest
import torch

from rnnt_ops import mutual_information_recursion
from reference import (
    random_boundary,
    recursion_by_enumeration,
    recursion_reference,
)

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def make_inputs(B, S, T, modified, dtype, device, seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    px = torch.randn(B, S, T if modified else T + 1, generator=g, dtype=torch.float64)
    py = torch.randn(B, S + 1, T, generator=g, dtype=torch.float64)
    px = px.to(device=device, dtype=dtype).requires_grad_(requires_grad)
    py = py.to(device=device, dtype=dtype).requires_grad_(requires_grad)
    return px, py


SHAPES = [(1, 0, 1), (2, 0, 4), (3, 1, 1), (2, 3, 5), (4, 5, 7), (3, 6, 3), (2, 8, 12)]


@pytest.mark.parametrize("B,S,T", SHAPES)
@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ragged", [False, True])
def test_forward_and_backward_match_reference(B, S, T, modified, dtype, ragged, device):
    if modified and S > T and not ragged:
        pytest.skip("no path: covered by test_item_without_path")
    g = torch.Generator().manual_seed(B * 100 + S * 10 + T)
    boundary = random_boundary(B, S, T, g, modified=modified) if ragged else None
    px, py = make_inputs(B, S, T, modified, dtype, device, requires_grad=True)
    scores = mutual_information_recursion(
        px, py, None if boundary is None else boundary.to(device)
    )

    ref_px = px.detach().cpu().double().requires_grad_()
    ref_py = py.detach().cpu().double().requires_grad_()
    ref = recursion_reference(ref_px, ref_py, boundary)
    torch.testing.assert_close(scores.cpu().double(), ref.detach(), **TOL[dtype])

    weights = torch.rand(B, dtype=torch.float64)
    (scores * weights.to(device, dtype)).sum().backward()
    if ref.requires_grad:  # not when every box is a single node
        (ref * weights).sum().backward()
    for ours, theirs in ((px, ref_px), (py, ref_py)):
        expected = theirs.grad if theirs.grad is not None else torch.zeros_like(theirs)
        torch.testing.assert_close(ours.grad.cpu().double(), expected, **TOL[dtype])


@pytest.mark.parametrize("modified", [False, True])
def test_reference_equals_path_enumeration(modified):
    """The loop reference itself checked against a sum over every path."""
    g = torch.Generator().manual_seed(7)
    for B, S, T in [(3, 2, 3), (2, 3, 4), (2, 0, 2), (1, 3, 5)]:
        px, py = make_inputs(B, S, T, modified, torch.float64, "cpu", seed=S + T)
        boundary = random_boundary(B, S, T, g, modified=modified)
        ops = mutual_information_recursion(px, py, boundary)
        torch.testing.assert_close(ops, recursion_by_enumeration(px, py, boundary))
        torch.testing.assert_close(
            recursion_reference(px, py, boundary), recursion_by_enumeration(px, py, boundary)
        )


@pytest.mark.parametrize("modified", [False, True])
def test_gradcheck(modified, device):
    px, py = make_inputs(2, 3, 4, modified, torch.float64, device, requires_grad=True)
    boundary = torch.tensor([[0, 0, 3, 4], [1, 1, 3, 3]], device=device)
    assert torch.autograd.gradcheck(
        lambda a, b: mutual_information_recursion(a, b, boundary), (px, py)
    )
    assert torch.autograd.gradcheck(lambda a, b: mutual_information_recursion(a, b), (px, py))


@pytest.mark.parametrize("modified", [False, True])
def test_return_grad_equals_autograd(modified, device):
    px, py = make_inputs(3, 4, 6, modified, torch.float64, device, requires_grad=True)
    scores, (px_grad, py_grad) = mutual_information_recursion(px, py, return_grad=True)
    auto_px, auto_py = torch.autograd.grad(scores.sum(), (px, py))
    torch.testing.assert_close(px_grad, auto_px)
    torch.testing.assert_close(py_grad, auto_py)
    assert not px_grad.requires_grad
    # Occupation probabilities: every path emits S = 4 symbols and T = 6
    # blanks (regular) or T - S blanks (modified: a symbol takes a frame).
    blanks = 2.0 if modified else 6.0
    torch.testing.assert_close(px_grad.sum((1, 2)), torch.full((3,), 4.0, dtype=torch.float64, device=device))
    torch.testing.assert_close(py_grad.sum((1, 2)), torch.full((3,), blanks, dtype=torch.float64, device=device))


def test_return_grad_without_requires_grad(device):
    px, py = make_inputs(2, 3, 4, False, torch.float32, device)
    scores, (px_grad, py_grad) = mutual_information_recursion(px, py, return_grad=True)
    assert px_grad.shape == px.shape and py_grad.shape == py.shape
    torch.testing.assert_close(px_grad.sum(), torch.tensor(6.0, device=device))


def test_non_contiguous_inputs(device):
    px, py = make_inputs(3, 4, 5, False, torch.float64, device)
    px_t = px.transpose(1, 2).contiguous().transpose(1, 2)
    py_t = py.transpose(0, 1).contiguous().transpose(0, 1)
    assert not px_t.is_contiguous() and not py_t.is_contiguous()
    torch.testing.assert_close(
        mutual_information_recursion(px_t, py_t), mutual_information_recursion(px, py)
    )


@pytest.mark.parametrize("return_grad", [False, True])
def test_int32_boundary_equals_int64(return_grad, device):
    px, py = make_inputs(3, 4, 6, False, torch.float64, device, requires_grad=True)
    boundary = torch.tensor([[0, 0, 4, 6], [1, 0, 3, 5], [0, 2, 2, 6]], device=device)
    outs = [mutual_information_recursion(px, py, b, return_grad=return_grad)
            for b in (boundary, boundary.int())]
    scores = [o[0] if return_grad else o for o in outs]
    torch.testing.assert_close(scores[1], scores[0], rtol=0, atol=0)
    grads = [torch.autograd.grad(s.sum(), (px, py)) for s in scores]
    for a, b in zip(grads[1], grads[0]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    if return_grad:
        for a, b in zip(outs[1][1], outs[0][1]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_cells_outside_box_are_never_read(device):
    """Garbage (NaN, inf) outside each item's box changes nothing."""
    B, S, T = 3, 5, 6
    g = torch.Generator().manual_seed(3)
    boundary = torch.tensor([[1, 2, 3, 4], [0, 0, 5, 6], [2, 1, 2, 5]])
    px, py = make_inputs(B, S, T, False, torch.float64, device)
    clean = mutual_information_recursion(px, py, boundary.to(device))
    dirty_px, dirty_py = px.clone(), py.clone()
    for b, (sb, tb, se, te) in enumerate(boundary.tolist()):
        mask_x = torch.ones_like(px[b], dtype=torch.bool)
        mask_x[sb:se, tb : te + 1] = False
        mask_y = torch.ones_like(py[b], dtype=torch.bool)
        mask_y[sb : se + 1, tb:te] = False
        dirty_px[b][mask_x] = float("nan")
        dirty_py[b][mask_y] = float("inf")
    torch.testing.assert_close(mutual_information_recursion(dirty_px, dirty_py, boundary.to(device)), clean)


def test_item_without_path(device):
    """Modified with s_end - s_begin > t_end - t_begin: score -inf, zero grads,
    other items untouched."""
    px, py = make_inputs(2, 4, 3, True, torch.float64, device, requires_grad=True)
    boundary = torch.tensor([[0, 0, 4, 3], [0, 0, 2, 3]], device=device)
    scores = mutual_information_recursion(px, py, boundary)
    assert scores[0] == float("-inf") and torch.isfinite(scores[1])
    scores[1].backward()
    assert torch.isfinite(px.grad).all() and torch.isfinite(py.grad).all()
    _, (px_grad, py_grad) = mutual_information_recursion(px, py, boundary, return_grad=True)
    assert (px_grad[0] == 0).all() and (py_grad[0] == 0).all()
    assert px_grad[1].sum() > 0


def test_torchscript(device):
    @torch.jit.script
    def scripted(px: torch.Tensor, py: torch.Tensor, boundary: torch.Tensor) -> torch.Tensor:
        return torch.ops.rnnt.mutual_information(px, py, boundary)

    px, py = make_inputs(2, 3, 4, False, torch.float64, device, requires_grad=True)
    boundary = torch.tensor([[0, 0, 3, 4], [0, 0, 2, 3]], device=device)
    out = scripted(px, py, boundary)
    grads = torch.autograd.grad(out.sum(), (px, py))
    eager = mutual_information_recursion(px, py, boundary)
    eager_grads = torch.autograd.grad(eager.sum(), (px, py))
    torch.testing.assert_close(out, eager)
    for a, b in zip(grads, eager_grads):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("return_grad", [False, True])
def test_torch_compile_fullgraph(return_grad, device):
    def loss_fn(px, py, boundary):
        if return_grad:
            scores, (gx, gy) = mutual_information_recursion(px, py, boundary, return_grad=True)
            return -scores.sum() + 0.0 * gx.sum() + 0.0 * gy.sum()
        return -mutual_information_recursion(px, py, boundary).sum()

    compiled = torch.compile(loss_fn, fullgraph=True, backend="aot_eager")
    px, py = make_inputs(2, 3, 4, False, torch.float64, device, requires_grad=True)
    boundary = torch.tensor([[0, 0, 3, 4], [0, 1, 2, 4]], device=device)
    out = compiled(px, py, boundary)
    grads = torch.autograd.grad(out, (px, py))
    ref = loss_fn(px, py, boundary)
    ref_grads = torch.autograd.grad(ref, (px, py))
    torch.testing.assert_close(out, ref)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)


def test_opcheck(device):
    px, py = make_inputs(2, 3, 4, False, torch.float64, device, requires_grad=True)
    boundary = torch.tensor([[0, 0, 3, 4], [1, 0, 2, 3]], device=device)
    for op in (torch.ops.rnnt.mutual_information.default, torch.ops.rnnt.mutual_information_with_grad.default):
        torch.library.opcheck(op, (px, py, boundary))
        torch.library.opcheck(op, (px, py, None))
