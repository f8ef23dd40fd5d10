"""The TDT and multi-blank losses against the float64 references of
duration_reference.py (DP and brute-force path enumeration)."""

import pytest
import torch

import rnnt_ops as R
from duration_reference import (
    brute_force_scores,
    multiblank_arc_kinds,
    reference_scores,
    tdt_arc_kinds,
)

DURATIONS = [[0, 1, 2, 3, 4], [1, 2], [0, 2, 3], [2, 0, 1]]


def make(B, T, S, C, D, seed=0, dtype=torch.float64, blank=0, avoid=()):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, S + 1, C, generator=g, dtype=torch.float64).to(dtype)
    z = torch.randn(B, T, S + 1, D, generator=g, dtype=torch.float64).to(dtype) if D else None
    allowed = torch.tensor([c for c in range(C) if c != blank and c not in avoid])
    symbols = allowed[torch.randint(0, len(allowed), (B, S), generator=g)]
    return logits, z, symbols


def ragged_boundary(B, S, T, seed):
    g = torch.Generator().manual_seed(seed + 100)
    U = torch.randint(0, S + 1, (B,), generator=g)
    Tb = torch.randint(1, T + 1, (B,), generator=g)
    U[0], Tb[0] = S, T  # one item spans the whole tensor
    return torch.stack([torch.zeros_like(U), torch.zeros_like(U), U, Tb], 1)


def reduce(per_item, reduction):
    return {"none": per_item, "mean": per_item.mean(), "sum": per_item.sum()}[reduction]


@pytest.mark.parametrize("durations", DURATIONS)
@pytest.mark.parametrize("seed", range(3))
def test_tdt_matches_path_enumeration(durations, seed):
    B, T, S, C = 3, 4, 2, 4
    logits, z, symbols = make(B, T, S, C, len(durations), seed)
    boundary = ragged_boundary(B, S, T, seed)
    arcs = tdt_arc_kinds(0, durations)
    ours = R.rnnt_loss_tdt(logits, z, symbols, 0, durations, boundary, sigma=0.05,
                           reduction="none")
    brute = brute_force_scores(logits, z, symbols, arcs, boundary, sigma=0.05)
    torch.testing.assert_close(ours, -torch.tensor(brute, dtype=torch.float64),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_multiblank_matches_path_enumeration(seed):
    B, T, S, C = 3, 5, 2, 6
    ids, durs = [4, 3], [2, 4]
    logits, _, symbols = make(B, T, S, C, 0, seed, blank=5, avoid=ids)
    boundary = ragged_boundary(B, S, T, seed)
    arcs = multiblank_arc_kinds(5, ids, durs)
    ours = R.rnnt_loss_multiblank(logits, symbols, 5, ids, durs, boundary, sigma=0.1,
                                  reduction="none")
    brute = brute_force_scores(logits, None, symbols, arcs, boundary, sigma=0.1)
    torch.testing.assert_close(ours, -torch.tensor(brute, dtype=torch.float64),
                               rtol=1e-10, atol=1e-10)


def assert_grads_match(ours_loss, ref_loss, inputs):
    ours = torch.autograd.grad(ours_loss, inputs, retain_graph=True)
    ref = torch.autograd.grad(ref_loss, inputs)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("durations", DURATIONS[:3])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("sigma", [0.0, 0.3])
def test_tdt_matches_dp_reference(durations, reduction, ragged, sigma):
    B, T, S, C = 3, 9, 5, 7
    logits, z, symbols = make(B, T, S, C, len(durations), seed=len(durations) + int(ragged))
    logits.requires_grad_(True)
    z.requires_grad_(True)
    boundary = ragged_boundary(B, S, T, 1) if ragged else None
    ours = R.rnnt_loss_tdt(logits, z, symbols, 0, durations, boundary, sigma=sigma,
                           reduction=reduction)
    ref = reduce(-reference_scores(logits, z, symbols, tdt_arc_kinds(0, durations), boundary,
                                   sigma=sigma), reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    weights = torch.rand(B, dtype=torch.float64) if reduction == "none" else 1.0
    assert_grads_match((ours * weights).sum(), (ref * weights).sum(), (logits, z))


@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_multiblank_matches_dp_reference(ragged, reduction):
    B, T, S, C = 3, 10, 4, 8
    ids, durs = [6, 5, 4], [2, 3, 8]  # NeMo's layout: standard blank last
    logits, _, symbols = make(B, T, S, C, 0, seed=3, blank=7, avoid=ids)
    logits.requires_grad_(True)
    boundary = ragged_boundary(B, S, T, 2) if ragged else None
    ours = R.rnnt_loss_multiblank(logits, symbols, 7, ids, durs, boundary, sigma=0.2,
                                  reduction=reduction)
    ref = reduce(-reference_scores(logits, None, symbols, multiblank_arc_kinds(7, ids, durs),
                                   boundary, sigma=0.2), reduction)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
    assert_grads_match(ours.sum(), ref.sum(), (logits,))


def test_tdt_gradcheck():
    logits, z, symbols = make(2, 4, 2, 4, 3, seed=5)
    boundary = torch.tensor([[0, 0, 2, 4], [0, 0, 1, 3]])
    logits.requires_grad_(True)
    z.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x, d: R.rnnt_loss_tdt(x, d, symbols, 0, [0, 1, 2], boundary, sigma=0.1,
                                     reduction="none"),
        (logits, z))


def test_multiblank_gradcheck():
    logits, _, symbols = make(2, 5, 2, 5, 0, seed=6, avoid=[4])
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: R.rnnt_loss_multiblank(x, symbols, 0, [4], [3], reduction="none"), (logits,))


def test_omega_mixes_regular_rnnt_loss():
    logits, z, symbols = make(2, 6, 3, 5, 3, seed=7)
    boundary = ragged_boundary(2, 3, 6, 7)
    tdt = R.rnnt_loss_tdt(logits, z, symbols, 0, [0, 1, 2], boundary, sigma=0.1, reduction="none")
    rnnt = R.rnnt_loss(logits, symbols, 0, boundary, reduction="none")
    mixed = R.rnnt_loss_tdt(logits, z, symbols, 0, [0, 1, 2], boundary, sigma=0.1, omega=0.3,
                            reduction="none")
    torch.testing.assert_close(mixed, 0.7 * tdt + 0.3 * rnnt, rtol=1e-12, atol=1e-12)


def test_tdt_hand_computed_lattice():
    """No symbols, durations [0, 1], uniform duration logits: the only path
    is three blanks of duration 1."""
    logits, _, symbols = make(1, 3, 0, 3, 0, seed=8)
    z = torch.zeros(1, 3, 1, 2, dtype=torch.float64)
    lp = logits.log_softmax(-1)[0, :, 0, 0].sum() + 3 * torch.log(torch.tensor(0.5, dtype=torch.float64))
    ours = R.rnnt_loss_tdt(logits, z, symbols, 0, [0, 1], reduction="sum")
    torch.testing.assert_close(ours, -lp)


@pytest.mark.parametrize("lam", [0.5, 0.01])
def test_tdt_fastemit_scales_symbol_arcs(lam):
    logits, z, symbols = make(3, 7, 3, 6, 4, seed=9)
    logits.requires_grad_(True)
    z.requires_grad_(True)
    boundary = ragged_boundary(3, 3, 7, 9)
    durations = [0, 1, 2, 4]
    ours = R.rnnt_loss_tdt(logits, z, symbols, 0, durations, boundary, fastemit_lambda=lam,
                           reduction="none")
    plain = R.rnnt_loss_tdt(logits, z, symbols, 0, durations, boundary, reduction="none")
    torch.testing.assert_close(ours, (1 + lam) * plain, rtol=1e-12, atol=1e-12)
    ref = -reference_scores(logits, z, symbols, tdt_arc_kinds(0, durations), boundary,
                            fastemit_lambda=lam)
    assert_grads_match(ours.sum(), ref.sum(), (logits, z))
    # The duration gradient is FastEmit-free (as NeMo's).
    torch.testing.assert_close(torch.autograd.grad(ours.sum(), z)[0],
                               torch.autograd.grad(plain.sum(), z)[0])


def test_item_without_path_is_inf_with_zero_grads():
    logits, z, symbols = make(2, 4, 1, 4, 1, seed=10)
    logits.requires_grad_(True)
    boundary = torch.tensor([[0, 0, 0, 3], [0, 0, 1, 4]])
    # Only duration 2: item 0 (T = 3, U = 0) cannot end on frame 3.
    loss = R.rnnt_loss_tdt(logits, z, symbols, 0, [2], boundary, reduction="none")
    assert loss[0] == float("inf") and torch.isfinite(loss[1])
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    assert torch.all(grad[0] == 0) and torch.isfinite(grad).all()
    zeroed = R.rnnt_loss_tdt(logits, z, symbols, 0, [2], boundary, reduction="sum",
                             zero_infinity=True)
    torch.testing.assert_close(zeroed, loss[1])
    torch.testing.assert_close(torch.autograd.grad(zeroed, logits)[0], grad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision_inputs_accumulate_in_float32(dtype):
    logits, z, symbols = make(2, 8, 4, 10, 5, seed=11, dtype=dtype)
    logits.requires_grad_(True)
    z.requires_grad_(True)
    loss = R.rnnt_loss_tdt(logits, z, symbols, 0, [0, 1, 2, 3, 4], reduction="sum")
    assert loss.dtype == torch.float32
    x64, z64 = logits.detach().double().requires_grad_(True), z.detach().double().requires_grad_(True)
    ref = R.rnnt_loss_tdt(x64, z64, symbols, 0, [0, 1, 2, 3, 4], reduction="sum")
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-4)
    gx, gz = torch.autograd.grad(loss, (logits, z))
    rx, rz = torch.autograd.grad(ref, (x64, z64))
    assert gx.dtype == dtype and gz.dtype == dtype
    tol = 1e-2 if dtype != torch.float32 else 1e-6
    torch.testing.assert_close(gx.double(), rx, rtol=tol, atol=tol)
    torch.testing.assert_close(gz.double(), rz, rtol=tol, atol=tol)


def test_second_order_gradient_raises():
    logits, z, symbols = make(2, 4, 2, 4, 3, seed=12)
    logits.requires_grad_(True)
    loss = R.rnnt_loss_tdt(logits, z, symbols, 0, [0, 1, 2], reduction="sum")
    (grad,) = torch.autograd.grad(loss, logits, create_graph=True)
    with pytest.raises(RuntimeError, match="rnnt::rnnt_loss_tdt is differentiable once"):
        grad.pow(2).sum().backward()
