"""The fused joiner losses' input checks (C++, naming the op and the
argument), torch.compile and TorchScript."""

from typing import Optional

import pytest
import torch
import torch._dynamo
from torch import Tensor

import rnnt_ops
from test_fused_joiner import random_problem, ranges_for

OP = "rnnt::rnnt_loss_fused"


def good_inputs():
    am, lm, weight, bias, symbols, _ = random_problem(0, "regular", dtype=torch.float32)
    return dict(am=am, lm=lm, weight=weight, bias=bias, symbols=symbols, termination_symbol=0)


@pytest.mark.parametrize("change,error,match", [
    (dict(am=torch.zeros(3, 6)), RuntimeError, f"{OP}: am must be 3-D"),
    (dict(lm=torch.zeros(3, 5, 4)), RuntimeError, "must agree on D"),
    (dict(lm=torch.zeros(2, 5, 5)), RuntimeError, "lm .* must have am's batch size"),
    (dict(weight=torch.zeros(7, 5, dtype=torch.float64)), RuntimeError,
     "weight must have the dtype of am"),
    (dict(bias=torch.zeros(6)), RuntimeError, r"bias must be \[C\] with C = weight.size\(0\) = 7"),
    (dict(symbols=torch.zeros(3, 4, dtype=torch.float32)), RuntimeError, "symbols must be int64"),
    (dict(termination_symbol=7), ValueError, "termination_symbol must be in"),
    (dict(activation="gelu"), ValueError, "activation must be 'tanh', 'relu' or 'identity'"),
    (dict(boundary=torch.tensor([[0, 0, 5, 6]] * 3)), ValueError, rf"{OP}: boundary\[0\]"),
    (dict(symbols=torch.full((3, 4), 9)), (RuntimeError, ValueError), "symbols"),
])
def test_bad_input_names_the_argument(change, error, match):
    kwargs = {**good_inputs(), **change}
    with pytest.raises(error, match=match):
        rnnt_ops.rnnt_loss_fused(**kwargs)


def test_pruned_checks_ranges():
    kwargs = good_inputs()
    with pytest.raises(RuntimeError, match="rnnt::rnnt_loss_pruned_fused: ranges must be"):
        rnnt_ops.rnnt_loss_pruned_fused(ranges=torch.zeros(3, 5, 2, dtype=torch.int64), **kwargs)
    with pytest.raises(ValueError, match="use_hat_loss=True needs the blank"):
        rnnt_ops.rnnt_loss_pruned_fused(
            ranges=torch.zeros(3, 6, 2, dtype=torch.int64), use_hat_loss=True,
            **{**kwargs, "termination_symbol": 1})


def step(am, lm, weight, bias, symbols, boundary, ranges):
    full = rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols, 0, boundary, reduction="sum")
    pruned = rnnt_ops.rnnt_loss_pruned_fused(am, lm, ranges, weight, bias, symbols, 0, boundary,
                                             activation="relu", reduction="sum")
    return full + pruned


def test_compiled_matches_eager(device):
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, dynamic=True, backend="aot_eager")
    for seed, (T, S) in enumerate([(6, 3), (8, 4)]):
        am, lm, weight, bias, symbols, boundary = random_problem(seed, "regular", T=T, S=S,
                                                                 device=device)
        ranges = ranges_for(am, lm, symbols, boundary, "regular", 2, 7, seed)
        inputs = [t.requires_grad_() for t in (am, lm, weight, bias)]
        out = compiled(*inputs, symbols, boundary, ranges)
        grads = torch.autograd.grad(out, inputs)
        ref = step(*inputs, symbols, boundary, ranges)
        ref_grads = torch.autograd.grad(ref, inputs)
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def scripted_loss(am: Tensor, lm: Tensor, weight: Tensor, bias: Optional[Tensor],
                  symbols: Tensor, boundary: Optional[Tensor]) -> Tensor:
    return rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols, 0, boundary,
                                    activation="relu", rnnt_type="modified",
                                    sparse_backward=False)


def test_torchscript_matches_eager():
    scripted = torch.jit.script(scripted_loss)
    am, lm, weight, bias, symbols, boundary = random_problem(2, "modified")
    inputs = [t.requires_grad_() for t in (am, lm, weight, bias)]
    out = scripted(*inputs, symbols, boundary)
    ref = scripted_loss(*inputs, symbols, boundary)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(out, inputs), torch.autograd.grad(ref, inputs)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_autocast_leaves_the_fused_loss_in_float32():
    """Under CPU autocast the op runs as without it (its GEMMs stay float32),
    forward and backward."""
    am, lm, weight, bias, symbols, boundary = random_problem(6, "regular", dtype=torch.float32)
    inputs = [t.requires_grad_() for t in (am, lm, weight, bias)]
    plain = rnnt_ops.rnnt_loss_fused(*inputs, symbols, 0, boundary)
    plain_grads = torch.autograd.grad(plain, inputs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = rnnt_ops.rnnt_loss_fused(*inputs, symbols, 0, boundary)
        autocast_grads = torch.autograd.grad(autocast, inputs)
    torch.testing.assert_close(autocast, plain)
    for a, b in zip(autocast_grads, plain_grads):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("pruned", [False, True])
def test_opcheck_backend_op(pruned):
    """Schema, fake kernel, autograd registration and AOT dispatch of the
    chunked kernel (forward and backward), without and with a duration
    head."""
    am, lm, weight, bias, symbols, boundary = random_problem(9, "regular", T=4, S=3)
    B, T, S = symbols.shape[0], am.shape[1], symbols.shape[1]
    ext = torch.cat([symbols, torch.zeros(B, 1, dtype=torch.int64)], 1)
    if pruned:
        ranges = ranges_for(am, lm, symbols, boundary, "regular", 2, 7, 9)
        index = torch.gather(ext[:, None].expand(B, T, S + 1), 2, ranges)
    else:
        ranges, index = None, ext[:, None].expand(B, T, S + 1).contiguous()
    heads = torch.randn(3, weight.shape[1], dtype=weight.dtype)
    for duration_weight, duration_bias in [(None, None), (heads, heads[:, 0])]:
        args = (am.requires_grad_(), lm.requires_grad_(), weight.requires_grad_(),
                bias.requires_grad_(), duration_weight, duration_bias, index, ranges, 0,
                boundary, "relu", False, 5, True)
        torch.library.opcheck(torch.ops.rnnt._fused_joiner_logprobs.default, args)


@pytest.mark.parametrize("pruned", [False, True])
def test_fastemit_and_int32_index_tensors_match_unfused(pruned):
    """fastemit_lambda and int32 symbols/boundary reach the fused losses as
    they reach rnnt_loss / rnnt_loss_pruned (value and gradients)."""
    from test_fused_joiner import assert_same_loss_and_grads, joiner

    am, lm, weight, bias, symbols, boundary = random_problem(7, "regular")
    symbols32, boundary32 = symbols.int(), boundary.int()
    tol = dict(rtol=1e-9, atol=1e-9)
    if pruned:
        ranges = ranges_for(am, lm, symbols, boundary, "regular", 3, 7, seed=8)

        def fused(am, lm, weight, bias):
            return rnnt_ops.rnnt_loss_pruned_fused(
                am, lm, ranges, weight, bias, symbols32, 0, boundary32, reduction="none",
                fastemit_lambda=0.3)

        def unfused(am, lm, weight, bias):
            am_p, lm_p = rnnt_ops.do_rnnt_pruning(am, lm, ranges)
            return rnnt_ops.rnnt_loss_pruned(joiner(am_p, lm_p, weight, bias, "tanh"), symbols,
                                             ranges, 0, boundary, reduction="none",
                                             fastemit_lambda=0.3)
    else:
        def fused(am, lm, weight, bias):
            return rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols32, 0, boundary32,
                                            reduction="none", fastemit_lambda=0.3)

        def unfused(am, lm, weight, bias):
            logits = joiner(am[:, :, None], lm[:, None], weight, bias, "tanh")
            return rnnt_ops.rnnt_loss(logits, symbols, 0, boundary, reduction="none",
                                      fastemit_lambda=0.3)
    assert_same_loss_and_grads(fused, unfused, (am, lm, weight, bias), tol)
