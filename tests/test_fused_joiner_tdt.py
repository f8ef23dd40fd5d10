"""rnnt_loss_tdt_fused against the unfused composition (NeMo's TDT joint
materialised: label and duration logits from one hidden activation, then
rnnt_loss_tdt): values and the gradients of am, lm, weight, bias,
duration_weight and duration_bias, in float64; its checks and
TorchScript."""

import itertools
from typing import List, Optional

import pytest
import torch
from torch import Tensor

import rnnt_ops
from test_fused_joiner import ACTIVATIONS, random_problem

TOL64 = dict(rtol=1e-9, atol=1e-9)
DURATIONS = [0, 1, 2, 4]
OPTIONS = [dict(), dict(sigma=0.05, omega=0.3), dict(fastemit_lambda=0.2), dict(omega=1.0)]
NAMES = ("am", "lm", "weight", "bias", "duration_weight", "duration_bias")


def tdt_problem(seed, with_biases=True, durations=DURATIONS, **shape):
    am, lm, weight, bias, symbols, boundary = random_problem(seed, "regular",
                                                             with_bias=with_biases, **shape)
    g = torch.Generator().manual_seed(seed + 100)
    duration_weight = torch.randn(len(durations), am.shape[2], generator=g,
                                  dtype=torch.float64) / 2
    duration_bias = (torch.randn(len(durations), generator=g, dtype=torch.float64)
                     if with_biases else None)
    return (am, lm, weight, bias, duration_weight, duration_bias), symbols, boundary


def unfused(am, lm, weight, bias, duration_weight, duration_bias, symbols, boundary,
            activation="tanh", durations=DURATIONS, **options):
    hidden = ACTIVATIONS[activation](am[:, :, None] + lm[:, None])
    logits = hidden @ weight.T
    duration_logits = hidden @ duration_weight.T
    if bias is not None:
        logits = logits + bias
    if duration_bias is not None:
        duration_logits = duration_logits + duration_bias
    return rnnt_ops.rnnt_loss_tdt(logits, duration_logits, symbols, 0, durations, boundary,
                                  reduction="none", **options)


def fused(am, lm, weight, bias, duration_weight, duration_bias, symbols, boundary,
          activation="tanh", durations=DURATIONS, chunk_cells=0, sparse_backward=False,
          **options):
    return rnnt_ops.rnnt_loss_tdt_fused(am, lm, weight, bias, duration_weight, duration_bias,
                                        symbols, 0, durations, boundary, activation,
                                        reduction="none", chunk_cells=chunk_cells,
                                        sparse_backward=sparse_backward, **options)


def values_and_grads(fn, heads, *args, **kwargs):
    leaves = [None if t is None else t.detach().clone().requires_grad_(True) for t in heads]
    loss = fn(*leaves, *args, **kwargs)
    weights = torch.linspace(0.5, 1.5, loss.numel(), dtype=loss.dtype)
    live = [t for t in leaves if t is not None]
    return loss, dict(zip([n for n, t in zip(NAMES, leaves) if t is not None],
                          torch.autograd.grad((loss * weights).sum(), live)))


def assert_matches_unfused(heads, symbols, boundary, fused_kwargs=(), **kwargs):
    loss, grads = values_and_grads(fused, heads, symbols, boundary, **dict(fused_kwargs),
                                   **kwargs)
    want, want_grads = values_and_grads(unfused, heads, symbols, boundary, **kwargs)
    torch.testing.assert_close(loss, want, **TOL64)
    assert grads.keys() == want_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], want_grads[name], **TOL64,
                                   msg=lambda m: f"d {name}: {m}")


@pytest.mark.parametrize("sparse_backward", [False, True])
@pytest.mark.parametrize("activation,options", list(itertools.product(ACTIVATIONS, OPTIONS)))
def test_matches_unfused(activation, options, sparse_backward):
    for seed, (with_biases, ragged) in enumerate([(True, True), (False, True), (True, False)]):
        heads, symbols, boundary = tdt_problem(seed, with_biases, ragged=ragged)
        assert_matches_unfused(heads, symbols, boundary,
                               dict(sparse_backward=sparse_backward),
                               activation=activation, **options)


@pytest.mark.parametrize("chunk_cells", [1, 5, 10**6])
@pytest.mark.parametrize("durations", [[1], [0, 1], [1, 2, 3]])
def test_chunks_and_durations(chunk_cells, durations):
    heads, symbols, boundary = tdt_problem(7, durations=durations, T=7, S=3)
    assert_matches_unfused(heads, symbols, boundary, dict(chunk_cells=chunk_cells),
                           durations=durations, sigma=0.02)


@pytest.mark.parametrize("sparse_backward", [False, True])
def test_gradcheck(sparse_backward):
    heads, symbols, boundary = tdt_problem(3, B=2, T=3, S=2, D=3, C=4, ragged=False)

    def loss(*heads):
        return fused(*heads, symbols, boundary, chunk_cells=2, sparse_backward=sparse_backward,
                     omega=0.2)

    leaves = [t.detach().clone().requires_grad_(True) for t in heads]
    assert torch.autograd.gradcheck(loss, leaves)


OP = "rnnt::rnnt_loss_tdt_fused"


@pytest.mark.parametrize("change,match", [
    (dict(duration_weight=torch.zeros(3, 5, dtype=torch.float64)),
     rf"{OP}: duration_weight must be \[len\(durations\) = 4\]\[D = 5\]"),
    (dict(duration_weight=torch.zeros(4, 5)), "duration_weight must have the dtype of am"),
    (dict(duration_bias=torch.zeros(3, dtype=torch.float64)),
     r"duration_bias must be \[len\(durations\) = 4\]"),
    (dict(omega=1.5), "omega must be in"),
])
def test_bad_input_names_the_argument(change, match):
    heads, symbols, boundary = tdt_problem(0)
    kwargs = dict(zip(NAMES, heads), symbols=symbols, termination_symbol=0,
                  durations=DURATIONS, boundary=boundary)
    with pytest.raises((RuntimeError, ValueError), match=match):
        rnnt_ops.rnnt_loss_tdt_fused(**{**kwargs, **change})


def scripted_loss(am: Tensor, lm: Tensor, weight: Tensor, bias: Optional[Tensor],
                  duration_weight: Tensor, duration_bias: Optional[Tensor], symbols: Tensor,
                  durations: List[int], boundary: Optional[Tensor]) -> Tensor:
    return rnnt_ops.rnnt_loss_tdt_fused(am, lm, weight, bias, duration_weight, duration_bias,
                                        symbols, 0, durations, boundary, omega=0.1,
                                        reduction="sum", sparse_backward=False)


def test_torchscript_matches_eager():
    scripted = torch.jit.script(scripted_loss)
    heads, symbols, boundary = tdt_problem(2)
    torch.testing.assert_close(scripted(*heads, symbols, DURATIONS, boundary),
                               scripted_loss(*heads, symbols, DURATIONS, boundary))
