"""Every public function of rnnt_ops is torch.jit.script-able, with
annotations that say what the ops accept (reduction is a str, not
Optional[str]), and a scripted function gives what the Python one gives."""

import inspect

import pytest
import torch

import rnnt_ops as R

FUNCTIONS = [
    "get_rnnt_logprobs", "get_rnnt_logprobs_smoothed", "get_rnnt_logprobs_joint",
    "get_rnnt_logprobs_pruned", "get_rnnt_prune_ranges", "do_rnnt_pruning",
    "rnnt_loss", "rnnt_loss_simple", "rnnt_loss_smoothed", "rnnt_loss_pruned",
    "mutual_information_recursion", "joint_mutual_information_recursion",
]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_public_function_scripts(name):
    torch.jit.script(getattr(R, name))


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if "reduction" in
                                  inspect.signature(getattr(R, n)).parameters])
def test_reduction_is_annotated_as_the_str_the_op_takes(name):
    assert inspect.signature(getattr(R, name)).parameters["reduction"].annotation is str


def test_scripted_losses_match_python():
    g = torch.Generator().manual_seed(0)
    B, S, T, C = 2, 3, 4, 5
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64)
    symbols = torch.randint(1, C, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, 3, 4], [0, 0, 2, 3]])
    simple = torch.jit.script(R.rnnt_loss_simple)
    loss, (px_grad, py_grad) = simple(lm, am, symbols, 0, boundary, "regular", 0.0, "sum", True)
    ref, (px_ref, py_ref) = R.rnnt_loss_simple(lm, am, symbols, 0, boundary, reduction="sum",
                                               return_grad=True)
    torch.testing.assert_close(loss, ref, rtol=0, atol=0)
    torch.testing.assert_close(px_grad, px_ref, rtol=0, atol=0)
    px = torch.randn(B, S, T + 1, generator=g, dtype=torch.float64)
    py = torch.randn(B, S + 1, T, generator=g, dtype=torch.float64)
    joint = torch.jit.script(R.joint_mutual_information_recursion)
    torch.testing.assert_close(joint([px, px], [py, py], boundary),
                               R.joint_mutual_information_recursion([px, px], [py, py], boundary))
