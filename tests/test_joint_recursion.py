"""joint_mutual_information_recursion: per-term expectations under the
posterior of the summed recursion (k2 / fast_rnnt semantics), against path
enumeration."""

import pytest
import torch

from rnnt_ops import joint_mutual_information_recursion, mutual_information_recursion
from reference import expected_terms_by_enumeration, random_boundary


def make_terms(N, B, S, T, modified, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    px = [torch.randn(B, S, T if modified else T + 1, generator=g, dtype=torch.float64)
          for _ in range(N)]
    py = [torch.randn(B, S + 1, T, generator=g, dtype=torch.float64) for _ in range(N)]
    return [x.to(device).requires_grad_() for x in px], [y.to(device).requires_grad_() for y in py]


@pytest.mark.parametrize("modified", [False, True])
@pytest.mark.parametrize("N", [1, 3])
def test_rows_are_posterior_expectations_and_sum_to_the_total(N, modified, device):
    B, S, T = 3, 3, 4
    px, py = make_terms(N, B, S, T, modified, device)
    boundary = random_boundary(B, S, T, torch.Generator().manual_seed(1), modified=modified)
    boundary = boundary.to(device)
    ans = joint_mutual_information_recursion(px, py, boundary)
    total = mutual_information_recursion(sum(px), sum(py), boundary)
    assert ans.shape == (N, B)
    torch.testing.assert_close(ans.sum(0), total)
    expected = expected_terms_by_enumeration(
        [x.detach().cpu() for x in px], [y.detach().cpu() for y in py], boundary.cpu()
    )
    torch.testing.assert_close(ans[1:].detach().cpu(), expected[1:])
    offset = total.detach().cpu() - expected.sum(0)
    torch.testing.assert_close(ans[0].detach().cpu(), expected[0] + offset)


def test_gradients_are_the_occupation_probabilities(device):
    px, py = make_terms(2, 2, 3, 5, False, device, seed=2)
    ans = joint_mutual_information_recursion(px, py)
    grads = torch.autograd.grad(ans.sum(), px + py)
    px_sum = sum(x.detach() for x in px).requires_grad_()
    py_sum = sum(y.detach() for y in py).requires_grad_()
    occ_x, occ_y = torch.autograd.grad(mutual_information_recursion(px_sum, py_sum).sum(),
                                       (px_sum, py_sum))
    for g in grads[:2]:
        torch.testing.assert_close(g, occ_x)
    for g in grads[2:]:
        torch.testing.assert_close(g, occ_y)


def test_inf_arcs_give_no_nan(device):
    px, py = make_terms(2, 2, 2, 3, False, device, seed=3)
    with torch.no_grad():
        px[1][0, 0, 1] = float("-inf")
    ans = joint_mutual_information_recursion(px, py)
    assert torch.isfinite(ans).all()


def test_mismatched_sequences_raise():
    px, py = make_terms(2, 1, 1, 2, False, "cpu")
    with pytest.raises(ValueError, match="same length"):
        joint_mutual_information_recursion(px, py[:1])
    with pytest.raises(ValueError, match="non-empty"):
        joint_mutual_information_recursion([], [])
