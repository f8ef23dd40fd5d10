"""inplace_grad=True: the backward of rnnt_loss / rnnt_loss_pruned writes
d loss / d logits over the logits' own memory. Same losses and gradients as
the default path, the memory is reused, and misuse raises."""

import pytest
import torch

import rnnt_ops as R
from helpers import full_loss, loss_and_grads, pruned_loss, step_inputs


@pytest.mark.parametrize("rnnt_type", ["regular", "modified", "constrained"])
@pytest.mark.parametrize("loss_fn", [full_loss, pruned_loss], ids=["full", "pruned"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_same_loss_and_gradients_as_default(loss_fn, rnnt_type, dtype, device):
    inputs = step_inputs(device, dtype)
    loss, grads = loss_and_grads(loss_fn, inputs, False, rnnt_type)
    loss_inplace, grads_inplace = loss_and_grads(loss_fn, inputs, True, rnnt_type)
    assert torch.equal(loss, loss_inplace)
    for a, b in zip(grads, grads_inplace):
        if device == "cuda" and loss_fn is pruned_loss:
            # The gathers' backwards on this path (index_select's into lm,
            # the simple loss's into am) sum with CUDA atomic adds in no
            # fixed order, so two runs of the same path already differ in the
            # last bits of those gradients: a few roundings of the largest.
            bound = 16 * torch.finfo(a.dtype).eps * a.abs().max().item()
            torch.testing.assert_close(a, b, rtol=0, atol=bound)
        else:
            assert torch.equal(a, b)


def test_leaf_logits_receive_their_gradient_in_their_own_memory(device):
    am, lm, symbols, boundary, _ = step_inputs(device, torch.float64)
    logits = torch.randn(3, 7, 5, 11, dtype=torch.float64, device=device, requires_grad=True)
    (expected,) = torch.autograd.grad(R.rnnt_loss(logits, symbols, 0, boundary), logits)
    address = logits.data_ptr()
    R.rnnt_loss(logits, symbols, 0, boundary, inplace_grad=True).backward()
    assert logits.grad.data_ptr() == address
    torch.testing.assert_close(logits.grad, expected, rtol=0, atol=0)


def test_other_users_of_the_logits_raise_instead_of_reading_the_gradient(device):
    _, _, symbols, boundary, _ = step_inputs(device, torch.float64)
    x = torch.randn(3, 7, 5, 11, dtype=torch.float64, device=device, requires_grad=True)
    logits = x.exp()  # exp's backward reads its output: the logits
    loss = R.rnnt_loss(logits, symbols, 0, boundary, inplace_grad=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_second_backward_through_the_graph_raises(device):
    _, _, symbols, boundary, _ = step_inputs(device, torch.float64)
    logits = torch.randn(3, 7, 5, 11, dtype=torch.float64, device=device, requires_grad=True)
    loss = R.rnnt_loss(logits * 1.0, symbols, 0, boundary, inplace_grad=True)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_non_contiguous_logits_fall_back_to_a_new_buffer(device):
    _, _, symbols, boundary, _ = step_inputs(device, torch.float64)
    base = torch.randn(3, 5, 7, 11, dtype=torch.float64, device=device)
    logits = base.transpose(1, 2).requires_grad_()  # [B][T][S+1][C], not contiguous
    (expected,) = torch.autograd.grad(R.rnnt_loss(logits, symbols, 0, boundary), logits)
    (grad,) = torch.autograd.grad(R.rnnt_loss(logits, symbols, 0, boundary, inplace_grad=True), logits)
    torch.testing.assert_close(grad, expected, rtol=0, atol=0)
    assert torch.equal(logits.detach(), base.transpose(1, 2))  # untouched


def test_inplace_backward_op_schema(device):
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 6, 9, generator=g, dtype=torch.float64).to(device)
    index = torch.randint(0, 9, (4, 6), generator=g).to(device)
    _, _, log_norm = torch.ops.rnnt._joiner_logprobs(logits, index, 0)
    args = (torch.rand_like(log_norm), torch.rand_like(log_norm), logits, index, log_norm, 0)
    expected = torch.ops.rnnt._joiner_logprobs_backward(*args)
    torch.library.opcheck(torch.ops.rnnt._joiner_logprobs_backward_.default,
                          tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args))
    torch.ops.rnnt._joiner_logprobs_backward_(*args)
    torch.testing.assert_close(logits, expected, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="contiguous"):
        torch.ops.rnnt._joiner_logprobs_backward_(
            args[0].t(), args[1].t(), logits.transpose(0, 1), index.t(), log_norm.t(), 0
        )


def test_compiled_inplace_grad_matches_eager(device):
    torch._dynamo.reset()
    inputs = step_inputs(device, torch.float64)
    compiled = torch.compile(full_loss, fullgraph=True, backend="aot_eager")
    am, lm, _, _, joiner = inputs
    params = (am, lm, joiner.weight, joiner.bias)
    loss = compiled(inputs, True, "regular")
    grads = torch.autograd.grad(loss, params)
    ref_loss, ref_grads = loss_and_grads(full_loss, inputs, False, "regular")
    torch.testing.assert_close(loss, ref_loss)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)
