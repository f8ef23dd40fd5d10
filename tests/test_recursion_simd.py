"""The vectorised CPU sweeps (csrc/ops/recursion/recursion_item_simd.h: skewed strips
of W lattice rows, one SIMD lane per row) against the float64 references in
reference.py, on shapes around the strip edges. W is two registers: 8
(float64) or 16 (float32) lanes with AVX2 and at::vec's default, 16 or 32
with AVX512; the row counts below cover 0, 1, W - 1, W, W + 1 and 2W + 1
for W = 8 and 16, and the strips' registers (4 or 8 lanes) likewise."""

import pytest
import torch

from rnnt_ops import mutual_information_recursion
from helpers import NEG_INF, RECURSION_TOL as TOL, check_recursion_against_reference, recursion_inputs
from reference import random_boundary, recursion_reference

ROWS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33]
def edge_boxes(B, S, T, modified, seed):
    """The full box, a single node inside, a box starting past (0, 0), then
    random ragged boxes."""
    g = torch.Generator().manual_seed(seed)
    fixed = [[0, 0, S, T], [S // 2, T // 2, S // 2, T // 2], [min(1, S), min(1, T), S, T]]
    return torch.cat([torch.tensor(fixed), random_boundary(B - 3, S, T, g, modified=modified)])


@pytest.mark.parametrize("S", ROWS)
@pytest.mark.parametrize("T", [0, 1, 3, 40])
@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_strip_edges(S, T, modified, dtype):
    if modified and T == 0:
        pytest.skip("modified px is [B][S][T]: T >= 1")
    seed = 1000 * S + 10 * T + modified
    px, py = recursion_inputs(5, S, T, modified, seed)
    check_recursion_against_reference(px, py, edge_boxes(5, S, T, modified, seed), dtype)


@pytest.mark.parametrize("S,T", [(9, 6), (17, 12), (16, 30)])
@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_neg_inf_arcs(S, T, modified, dtype):
    """A quarter of the arcs -inf: unreachable nodes, items without a path."""
    px, py = recursion_inputs(4, S, T, modified, S + T, neg_inf_fraction=0.25)
    check_recursion_against_reference(px, py, edge_boxes(4, S, T, modified, S), dtype)


@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nan_stays_in_its_item(modified, dtype):
    S, T = 9, 12
    px, py = recursion_inputs(3, S, T, modified, 5)
    px[1, 4, 6] = float("nan")
    boundary = torch.tensor([[0, 0, S, T]] * 3)
    scores = mutual_information_recursion(px.to(dtype), py.to(dtype), boundary)
    assert torch.isnan(scores[1])
    _, (px_grad, py_grad) = mutual_information_recursion(
        px.to(dtype), py.to(dtype), boundary, return_grad=True
    )
    assert torch.isnan(px_grad[1]).any()
    keep = torch.tensor([0, 2])
    check_recursion_against_reference(px[keep], py[keep], boundary[keep], dtype)


@pytest.mark.parametrize("modified", [False, True])
def test_forward_table(modified):
    """p[s, t] is the score of the box (s_begin, t_begin, s, t); -inf
    outside the box."""
    S, T = 9, 5
    px, py = recursion_inputs(2, S, T, modified, 3)
    boundary = torch.tensor([[0, 0, S, T], [2, 1, 7, 5]])
    scores, p = torch.ops.rnnt._mutual_information_forward(px, py, boundary)
    for b, (sb, tb, se, te) in enumerate(boundary.tolist()):
        inside = torch.zeros(S + 1, T + 1, dtype=torch.bool)
        inside[sb : se + 1, tb : te + 1] = True
        assert (p[b][~inside] == NEG_INF).all()
        assert p[b, se, te] == scores[b]
        sub_boxes = torch.tensor(
            [[sb, tb, s, t] for s in range(sb, se + 1) for t in range(tb, te + 1)]
        )
        many = len(sub_boxes)
        expected = recursion_reference(px[b : b + 1].expand(many, -1, -1), py[b : b + 1].expand(many, -1, -1), sub_boxes)
        torch.testing.assert_close(p[b][inside], expected, **TOL[torch.float64])


@pytest.mark.parametrize("modified", [False, True])
def test_float32_matches_float64_on_large_lattices(modified):
    """Many strips and long rows, float32 (8 or 16 lanes) against float64 (4
    or 8 lanes): different strip splits, same recursion."""
    B, S, T = 4, 37, 250
    px, py = recursion_inputs(B, S, T, modified, 11)
    boundary = random_boundary(B, S, T, torch.Generator().manual_seed(2), modified=modified)
    s64, (gx64, gy64) = mutual_information_recursion(px, py, boundary, return_grad=True)
    s32, (gx32, gy32) = mutual_information_recursion(px.float(), py.float(), boundary, return_grad=True)
    torch.testing.assert_close(s32.double(), s64, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(gx32.double(), gx64, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gy32.double(), gy64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("modified", [False, True])
def test_gradcheck_across_strips(modified):
    S, T = 9, 10
    px, py = recursion_inputs(3, S, T, modified, 4)
    px.requires_grad_()
    py.requires_grad_()
    boundary = torch.tensor([[0, 0, S, T], [1, 1, 6, 6], [3, 0, 8, 5]])
    assert torch.autograd.gradcheck(
        lambda a, b: mutual_information_recursion(a, b, boundary), (px, py)
    )
