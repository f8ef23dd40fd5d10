"""bench/plain_rnnt.py, the benchmark's plain-PyTorch baseline, computes the
same losses and gradients as rnnt_ops (float64, ragged boundaries,
reduction "sum"), and its bench steps agree with ours, on every device."""

import sys
from pathlib import Path

import pytest
import torch

import rnnt_ops

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import plain_rnnt  # noqa: E402
from bench.steps import STEPS, BenchModel, make_batch  # noqa: E402

B, T, S, C = 4, 9, 5, 7
TOL = dict(rtol=0, atol=1e-9)


def ragged_boundary(gen):
    """Rows (0, 0, U_b, T_b) with 1 <= T_b <= T, U_b <= S; the first item full-size."""
    t_end = torch.randint(1, T + 1, (B,), generator=gen)
    s_end = torch.randint(0, S + 1, (B,), generator=gen)
    t_end[0], s_end[0] = T, S
    zeros = torch.zeros(B, dtype=torch.int64)
    return torch.stack([zeros, zeros, s_end, t_end], dim=1)


def inputs(seed, device):
    gen = torch.Generator().manual_seed(seed)
    symbols = torch.randint(1, C, (B, S), generator=gen)
    return gen, symbols.to(device), ragged_boundary(gen).to(device)


def randn(gen, device, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(device).requires_grad_()


def assert_same_loss_and_grads(ours, plain, wrt):
    torch.testing.assert_close(plain, ours, **TOL)
    for g_plain, g_ours in zip(torch.autograd.grad(plain, wrt), torch.autograd.grad(ours, wrt)):
        torch.testing.assert_close(g_plain, g_ours, **TOL)


def test_recursion_matches_mutual_information(device):
    gen = torch.Generator().manual_seed(0)
    px = torch.randn(B, S, T + 1, generator=gen, dtype=torch.float64).log_softmax(-1).to(device)
    py = torch.randn(B, S + 1, T, generator=gen, dtype=torch.float64).log_softmax(-1).to(device)
    torch.testing.assert_close(
        plain_rnnt.antidiagonal_recursion(px, py), rnnt_ops.mutual_information_recursion(px, py), **TOL
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_loss_and_logits_grad(seed, device):
    gen, symbols, boundary = inputs(seed, device)
    logits = randn(gen, device, B, T, S + 1, C)
    assert_same_loss_and_grads(
        rnnt_ops.rnnt_loss(logits, symbols, 0, boundary, reduction="sum"),
        plain_rnnt.rnnt_loss(logits, symbols, 0, boundary, reduction="sum"),
        (logits,),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simple_loss_and_occupation_grads(seed, device):
    gen, symbols, boundary = inputs(seed, device)
    lm, am = randn(gen, device, B, S + 1, C), randn(gen, device, B, T, C)
    args = (lm, am, symbols, 0, boundary)
    ours, ours_grads = rnnt_ops.rnnt_loss_simple(*args, reduction="sum", return_grad=True)
    plain, plain_grads = plain_rnnt.rnnt_loss_simple(*args, reduction="sum", return_grad=True)
    for g_plain, g_ours in zip(plain_grads, ours_grads):
        torch.testing.assert_close(g_plain, g_ours, **TOL)
    assert_same_loss_and_grads(ours, plain, (lm, am))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prune_ranges(seed, device):
    """The plain windows rule chooses our windows: on real occupation
    probabilities on the CPU (both sum in the same order there), and on
    quarter-valued ones, whose sums are exact, on every device."""
    gen, symbols, boundary = inputs(seed, device)
    lm, am = randn(gen, device, B, S + 1, C), randn(gen, device, B, T, C)
    _, real = rnnt_ops.rnnt_loss_simple(lm, am, symbols, 0, boundary, reduction="sum", return_grad=True)
    quarters = [(torch.randint(0, 5, g.shape, generator=gen) / 4).to(g) for g in real]
    for grads in ([real, quarters] if device == "cpu" else [quarters]):
        for s_range in (2, 3, S + 1):
            ours = rnnt_ops.get_rnnt_prune_ranges(*grads, boundary, s_range)
            assert torch.equal(plain_rnnt.get_rnnt_prune_ranges(*grads, boundary, s_range), ours)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pruned_loss_and_logits_grad(seed, device):
    gen, symbols, boundary = inputs(seed, device)
    lm, am = randn(gen, device, B, S + 1, C), randn(gen, device, B, T, C)
    _, grads = rnnt_ops.rnnt_loss_simple(lm, am, symbols, 0, boundary, reduction="sum", return_grad=True)
    ranges = rnnt_ops.get_rnnt_prune_ranges(*grads, boundary, 3)
    for pruned_ours, pruned_plain in zip(rnnt_ops.do_rnnt_pruning(am, lm, ranges),
                                         plain_rnnt.do_rnnt_pruning(am, lm, ranges)):
        torch.testing.assert_close(pruned_plain, pruned_ours, rtol=0, atol=0)
    logits = randn(gen, device, B, T, ranges.shape[2], C)
    assert_same_loss_and_grads(
        rnnt_ops.rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, reduction="sum"),
        plain_rnnt.rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, reduction="sum"),
        (logits,),
    )


def test_pruned_loss_without_a_path_in_the_windows_is_inf(device):
    symbols = torch.tensor([[1, 2, 3]], device=device)
    # three symbols on one frame: a window of two positions cannot hold them
    boundary = torch.tensor([[0, 0, 3, 1]], device=device)
    ranges = torch.tensor([[[2, 3]]], device=device)
    logits = torch.randn(1, 1, 2, C, dtype=torch.float64, device=device)
    loss = plain_rnnt.rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, reduction="none")
    assert torch.isinf(loss).all()
    assert loss == rnnt_ops.rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, reduction="none")


@pytest.mark.parametrize("kind", ["full", "pruned"])
def test_bench_steps_agree(kind, device):
    shapes = [(12, 4), (9, 3), (5, 2)]
    losses = []
    for name in (kind, f"plain_{kind}"):
        torch.manual_seed(0)
        model = BenchModel(20, 16).to(device)
        batch = make_batch(shapes, vocab_size=20, dim=16, device=device, seed=0)
        losses.append(STEPS[name](model, batch).item())
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
