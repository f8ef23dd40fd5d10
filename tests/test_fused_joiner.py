"""rnnt_loss_fused / rnnt_loss_pruned_fused against the unfused composition
(joiner logits materialised, then rnnt_loss / do_rnnt_pruning +
rnnt_loss_pruned): values and the gradients of am, lm, weight and bias."""

import itertools

import pytest
import torch

import rnnt_ops
from reference import random_boundary

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda x: x}
RNNT_TYPES = ["regular", "modified", "constrained"]
TOL64 = dict(rtol=1e-9, atol=1e-9)


def joiner(am, lm, weight, bias, activation):
    """Logits [B][T][S+1][C] (or [B][T][s_range][C] for pruned am/lm)."""
    hidden = ACTIVATIONS[activation](am + lm)
    logits = hidden @ weight.T
    return logits if bias is None else logits + bias


def unfused_loss(am, lm, weight, bias, symbols, blank, boundary, activation, rnnt_type,
                 delay_penalty, reduction, zero_infinity):
    logits = joiner(am[:, :, None], lm[:, None], weight, bias, activation)
    return rnnt_ops.rnnt_loss(logits, symbols, blank, boundary, rnnt_type, delay_penalty,
                              reduction, zero_infinity=zero_infinity)


def unfused_pruned_loss(am, lm, ranges, weight, bias, symbols, blank, boundary, activation,
                        rnnt_type, delay_penalty, reduction, use_hat_loss):
    am_pruned, lm_pruned = rnnt_ops.do_rnnt_pruning(am, lm, ranges)
    logits = joiner(am_pruned, lm_pruned, weight, bias, activation)
    return rnnt_ops.rnnt_loss_pruned(logits, symbols, ranges, blank, boundary, rnnt_type,
                                     delay_penalty, reduction, use_hat_loss=use_hat_loss)


def random_problem(seed, rnnt_type, B=3, T=6, S=4, D=5, C=7, with_bias=True, ragged=True,
                   dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    if rnnt_type != "regular":
        S = min(S, T)
    am = torch.randn(B, T, D, generator=g, dtype=dtype)
    lm = torch.randn(B, S + 1, D, generator=g, dtype=dtype)
    weight = torch.randn(C, D, generator=g, dtype=dtype) / D**0.5
    bias = torch.randn(C, generator=g, dtype=dtype) if with_bias else None
    symbols = torch.randint(1, C, (B, S), generator=g)
    boundary = (random_boundary(B, S, T, g, with_begin=False, modified=rnnt_type != "regular")
                if ragged else None)
    return tuple(None if t is None else t.to(device)
                 for t in (am, lm, weight, bias, symbols, boundary))


def leaves(*tensors):
    return [t.detach().clone().requires_grad_(True) if t is not None else None for t in tensors]


def assert_same_loss_and_grads(fused_fn, unfused_fn, inputs, tol):
    fused_in, unfused_in = leaves(*inputs), leaves(*inputs)
    fused, unfused = fused_fn(*fused_in), unfused_fn(*unfused_in)
    torch.testing.assert_close(fused, unfused, **tol)
    weights = torch.linspace(0.5, 1.5, fused.numel(), dtype=fused.dtype,
                             device=fused.device).view(fused.shape)
    (fused * weights).sum().backward()
    (unfused * weights).sum().backward()
    for name, a, b in zip(("am", "lm", "weight", "bias"), fused_in, unfused_in):
        if a is None:
            continue
        assert a.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, **tol, msg=lambda m: f"d {name}: {m}")


@pytest.mark.parametrize("sparse_backward", [True, False])
@pytest.mark.parametrize("rnnt_type,activation,reduction",
                         list(itertools.product(RNNT_TYPES, ACTIVATIONS, ["none", "mean", "sum"])))
def test_full_matches_unfused(rnnt_type, activation, reduction, sparse_backward, device):
    for seed, (with_bias, ragged, delay_penalty, zero_infinity) in enumerate(
            [(True, True, 0.0, False), (False, True, 0.3, True), (True, False, 0.0, True)]):
        am, lm, weight, bias, symbols, boundary = random_problem(
            seed, rnnt_type, with_bias=with_bias, ragged=ragged, device=device)
        options = (2, boundary, activation, rnnt_type, delay_penalty, reduction, zero_infinity)

        def fused(am, lm, weight, bias):
            return rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols, *options,
                                            sparse_backward=sparse_backward)

        def unfused(am, lm, weight, bias):
            return unfused_loss(am, lm, weight, bias, symbols, *options)

        assert_same_loss_and_grads(fused, unfused, (am, lm, weight, bias), TOL64)


@pytest.mark.parametrize("sparse_backward", [True, False])
@pytest.mark.parametrize("chunk_cells", [1, 3, 7 * 5, 10**6])
@pytest.mark.parametrize("rnnt_type", RNNT_TYPES)
def test_full_chunk_sizes(chunk_cells, rnnt_type, sparse_backward, device):
    """One cell per chunk, chunks across frame rows, a whole item (T * (S+1)
    = 35 cells) per chunk, and more than any item."""
    am, lm, weight, bias, symbols, boundary = random_problem(
        11, rnnt_type, B=2, T=7, S=4, device=device)

    def fused(am, lm, weight, bias):
        return rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols, 0, boundary,
                                        rnnt_type=rnnt_type, reduction="none",
                                        chunk_cells=chunk_cells,
                                        sparse_backward=sparse_backward)

    def unfused(am, lm, weight, bias):
        return unfused_loss(am, lm, weight, bias, symbols, 0, boundary, "tanh", rnnt_type,
                            0.0, "none", False)

    assert_same_loss_and_grads(fused, unfused, (am, lm, weight, bias), TOL64)


@pytest.mark.parametrize("rnnt_type", RNNT_TYPES)
def test_full_no_symbols(rnnt_type, device):
    """S = 0: only blanks."""
    am, lm, weight, bias, symbols, boundary = random_problem(5, rnnt_type, S=0, device=device)

    def fused(am, lm, weight, bias):
        return rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols, 0, boundary,
                                        rnnt_type=rnnt_type, reduction="none")

    def unfused(am, lm, weight, bias):
        return unfused_loss(am, lm, weight, bias, symbols, 0, boundary, "tanh", rnnt_type,
                            0.0, "none", False)

    assert_same_loss_and_grads(fused, unfused, (am, lm, weight, bias), TOL64)


@pytest.mark.parametrize("sparse_backward", [True, False])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_full_gradcheck(activation, sparse_backward):
    am, lm, weight, bias, symbols, boundary = random_problem(3, "regular", B=2, T=3, S=2, D=3,
                                                             C=4)

    def fused(am, lm, weight, bias):
        return rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols, 0, boundary,
                                        activation=activation, reduction="none",
                                        chunk_cells=2, sparse_backward=sparse_backward)

    assert torch.autograd.gradcheck(fused, leaves(am, lm, weight, bias))


def ranges_for(am, lm, symbols, boundary, rnnt_type, s_range, C, seed):
    """Pruning windows from a random simple loss's occupation probabilities."""
    g = torch.Generator().manual_seed(seed)
    B, T, _ = am.shape
    am_simple = torch.randn(B, T, C, generator=g, dtype=torch.float64).to(am.device)
    lm_simple = torch.randn(B, lm.shape[1], C, generator=g, dtype=torch.float64).to(am.device)
    _, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
        lm_simple, am_simple, symbols, 0, boundary, rnnt_type, return_grad=True)
    return rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)


@pytest.mark.parametrize("sparse_backward", [True, False])
@pytest.mark.parametrize("rnnt_type,activation,use_hat_loss",
                         list(itertools.product(RNNT_TYPES, ACTIVATIONS, [False, True])))
def test_pruned_matches_unfused(rnnt_type, activation, use_hat_loss, sparse_backward, device):
    for seed, (with_bias, ragged, delay_penalty, reduction, s_range, chunk_cells) in enumerate(
            [(True, True, 0.0, "none", 2, 0), (False, True, 0.3, "mean", 3, 1),
             (True, False, 0.0, "sum", 2, 5)]):
        am, lm, weight, bias, symbols, boundary = random_problem(
            seed, rnnt_type, with_bias=with_bias, ragged=ragged, device=device)
        ranges = ranges_for(am, lm, symbols, boundary, rnnt_type, s_range, 7, seed)
        options = (0, boundary, activation, rnnt_type, delay_penalty, reduction, use_hat_loss)

        def fused(am, lm, weight, bias):
            return rnnt_ops.rnnt_loss_pruned_fused(am, lm, ranges, weight, bias, symbols,
                                                   *options, chunk_cells=chunk_cells,
                                                   sparse_backward=sparse_backward)

        def unfused(am, lm, weight, bias):
            return unfused_pruned_loss(am, lm, ranges, weight, bias, symbols, *options)

        assert_same_loss_and_grads(fused, unfused, (am, lm, weight, bias), TOL64)


@pytest.mark.parametrize("sparse_backward", [True, False])
def test_pruned_gradcheck(sparse_backward):
    am, lm, weight, bias, symbols, boundary = random_problem(4, "regular", B=2, T=3, S=2, D=3,
                                                             C=4)
    ranges = ranges_for(am, lm, symbols, boundary, "regular", 2, 4, 4)

    def fused(am, lm, weight, bias):
        return rnnt_ops.rnnt_loss_pruned_fused(am, lm, ranges, weight, bias, symbols, 0,
                                               boundary, reduction="none", chunk_cells=2,
                                               sparse_backward=sparse_backward)

    assert torch.autograd.gradcheck(fused, leaves(am, lm, weight, bias))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_low_precision_close_to_float64(dtype, device):
    """float32 accumulation: the loss of rounded inputs is close to the
    float64 loss of the same (rounded) values."""
    am, lm, weight, bias, symbols, boundary = random_problem(8, "regular", dtype=dtype,
                                                             device=device)
    loss = rnnt_ops.rnnt_loss_fused(am, lm, weight, bias, symbols, 0, boundary,
                                    reduction="none")
    assert loss.dtype == torch.float32
    as64 = [t.double() for t in (am, lm, weight, bias)]
    expected = rnnt_ops.rnnt_loss_fused(*as64, symbols, 0, boundary, reduction="none")
    tol = 1e-5 if dtype == torch.float32 else 5e-2
    torch.testing.assert_close(loss.double(), expected, rtol=tol, atol=tol)
    leaf = am.clone().requires_grad_(True)
    rnnt_ops.rnnt_loss_fused(leaf, lm, weight, bias, symbols, 0, boundary).backward()
    assert leaf.grad.dtype == dtype and torch.isfinite(leaf.grad).all()
