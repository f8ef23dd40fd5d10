"""Regressions of inputs that once crashed, returned garbage or misled: each
test states the input and what must happen instead."""

import math
import subprocess
import sys
import textwrap

import pytest
import torch

import rnnt_ops as R


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter (a memory error there cannot take the
    test process down with it)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True)


def tdt_inputs(B=1, T=4, S=2, C=3, D=2, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, S + 1, C, generator=g, dtype=dtype)
    z = torch.randn(B, T, S + 1, D, generator=g, dtype=dtype)
    return logits, z


@pytest.mark.parametrize("symbol", [3, 4, 10**12, -1, -(10**12)])
def test_unchecked_tdt_symbol_outside_the_classes_stays_inside_its_row(symbol):
    # With value checks off, a symbol outside [0, C) is read as the nearest
    # class of its own row: the loss and gradient equal those of that class.
    logits, z = tdt_inputs()
    clamped = min(max(symbol, 0), 2)
    want_x = logits.clone().requires_grad_()
    want = R.rnnt_loss_tdt(want_x, z, torch.tensor([[clamped, 0]]), 2 if clamped != 2 else 1,
                           [0, 1], reduction="sum")
    with R.value_checks(False):
        x = logits.clone().requires_grad_()
        got = R.rnnt_loss_tdt(x, z, torch.tensor([[symbol, 0]]), 2 if clamped != 2 else 1, [0, 1],
                              reduction="sum")
        got.backward()
    want.backward()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(x.grad, want_x.grad)


def test_unchecked_huge_symbols_do_not_crash_the_process():
    result = run_isolated("""
        import torch, rnnt_ops
        rnnt_ops.set_value_checks(False)
        x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
        z = torch.randn(1, 4, 3, 2, dtype=torch.float64)
        rnnt_ops.rnnt_loss_tdt(x, z, torch.tensor([[3, 0]]), 2, [0, 1], reduction="sum").backward()
        m = torch.randn(1, 4, 3, 6, requires_grad=True)
        rnnt_ops.rnnt_loss_multiblank(m, torch.tensor([[10**12, 0]]), 5, [4], [2]).backward()
        a = torch.randn(1, 4, 3, 7, requires_grad=True)
        rnnt_ops.TDTLoss(blank_idx=4, durations=[0, 1])(
            a, torch.tensor([[-10**12, 9]]), torch.tensor([4]), torch.tensor([2])).backward()
        print("finite", bool(x.grad.isfinite().all() and m.grad.isfinite().all()))
    """)
    assert result.returncode == 0, result.stderr
    assert "finite True" in result.stdout


@pytest.mark.parametrize("moved", ["boundary", "symbols", "duration_logits"])
def test_tdt_meta_tensor_beside_cpu_ones_is_a_device_error(moved):
    logits, z = tdt_inputs()
    args = {"symbols": torch.tensor([[0, 1]]), "boundary": torch.tensor([[0, 0, 2, 4]]),
            "duration_logits": z}
    args[moved] = args[moved].to("meta")
    with pytest.raises(RuntimeError, match=rf"rnnt_loss_tdt: {moved} .*(device|meta)"):
        R.rnnt_loss_tdt(logits, args["duration_logits"], args["symbols"], 2, [0, 1],
                        boundary=args["boundary"])


@pytest.mark.parametrize("moved", ["boundary", "symbols"])
def test_multiblank_meta_tensor_beside_cpu_ones_is_a_device_error(moved):
    logits = torch.randn(1, 4, 3, 6)
    args = {"symbols": torch.tensor([[0, 1]]), "boundary": torch.tensor([[0, 0, 2, 4]])}
    args[moved] = args[moved].to("meta")
    with pytest.raises(RuntimeError, match=rf"rnnt_loss_multiblank: {moved} .*device"):
        R.rnnt_loss_multiblank(logits, args["symbols"], 5, [4], [2], boundary=args["boundary"])


def test_omega_one_without_a_tdt_path_is_the_rnnt_loss():
    # durations [1, 2] (no 0): 3 symbols in 2 frames have no TDT path, but
    # an RNN-T path; omega = 1 is the RNN-T loss alone, not 0 * inf = NaN.
    logits, z = tdt_inputs(T=2, S=3, C=5)
    symbols = torch.tensor([[0, 1, 2]])
    x = logits.clone().requires_grad_()
    got = R.rnnt_loss_tdt(x, z, symbols, 4, [1, 2], omega=1.0, reduction="none")
    want = R.rnnt_loss(logits, symbols, 4, reduction="none")
    torch.testing.assert_close(got, want)
    got.sum().backward()
    assert x.grad.isfinite().all()
    half = R.rnnt_loss_tdt(logits, z, symbols, 4, [1, 2], omega=0.5, reduction="none")
    assert half.item() == math.inf
    zeroed = R.rnnt_loss_tdt(logits, z, symbols, 4, [1, 2], omega=0.5, reduction="none",
                             zero_infinity=True)
    assert zeroed.item() == 0.0


def test_omega_one_in_the_simple_tdt_loss_is_the_simple_loss():
    g = torch.Generator().manual_seed(1)
    B, T, S, C, D = 1, 2, 3, 5, 2
    lm, am = torch.randn(B, S + 1, C, generator=g), torch.randn(B, T, C, generator=g)
    lm_d, am_d = torch.randn(B, S + 1, D, generator=g), torch.randn(B, T, D, generator=g)
    symbols = torch.tensor([[0, 1, 2]])
    got = R.rnnt_loss_tdt_simple(lm, am, lm_d, am_d, symbols, 4, [1, 2], omega=1.0,
                                 reduction="none")
    want = R.rnnt_loss_simple(lm, am, symbols, 4, reduction="none")
    torch.testing.assert_close(got, want)


def fused_inputs(seed=0, B=2, T=5, S=3, D=4, C=6):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, D, generator=g, dtype=torch.float64, requires_grad=True)
    lm = torch.randn(B, S + 1, D, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(C, D, generator=g, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(C, generator=g, dtype=torch.float64, requires_grad=True)
    symbols = torch.randint(1, C, (B, S), generator=g)
    return am, lm, weight, bias, symbols


def fused_losses():
    def full(am, lm, w, b, sy):
        return R.rnnt_loss_fused(am, lm, w, b, sy, 0, reduction="sum")

    def pruned(am, lm, w, b, sy):
        ranges = torch.arange(3).view(1, 1, 3).expand(am.shape[0], am.shape[1], 3).contiguous()
        return R.rnnt_loss_pruned_fused(am, lm, ranges, w, b, sy, 0, reduction="sum")

    return {"rnnt_loss_fused": full, "rnnt_loss_pruned_fused": pruned}


@pytest.mark.parametrize("name", list(fused_losses()))
def test_fused_losses_are_differentiable_once(name):
    am, lm, weight, bias, symbols = fused_inputs()
    loss = fused_losses()[name](am, lm, weight, bias, symbols)
    (grad,) = torch.autograd.grad(loss, am, create_graph=True)
    with pytest.raises(RuntimeError, match=rf"rnnt::{name} is differentiable once"):
        grad.pow(2).sum().backward()


@pytest.mark.parametrize("name", list(fused_losses()))
def test_fused_losses_take_transposed_views(name):
    am, lm, weight, bias, symbols = fused_inputs()
    want = fused_losses()[name](am, lm, weight, bias, symbols)
    am_t = am.detach().transpose(0, 1).contiguous().transpose(0, 1)
    lm_t = lm.detach().transpose(0, 1).contiguous().transpose(0, 1)
    assert not am_t.is_contiguous() and not lm_t.is_contiguous()
    torch.testing.assert_close(fused_losses()[name](am_t, lm_t, weight, bias, symbols), want)


@pytest.mark.parametrize("chunk_cells", [-1, -(2**40)])
def test_fused_negative_chunk_cells_is_a_value_error(chunk_cells):
    am, lm, weight, bias, symbols = fused_inputs()
    with pytest.raises(ValueError, match=r"rnnt_loss_fused: chunk_cells must be >= 0"):
        R.rnnt_loss_fused(am, lm, weight, bias, symbols, 0, chunk_cells=chunk_cells)


def test_fused_huge_chunk_cells_is_one_chunk():
    am, lm, weight, bias, symbols = fused_inputs()
    want = R.rnnt_loss_fused(am, lm, weight, bias, symbols, 0)
    got = R.rnnt_loss_fused(am, lm, weight, bias, symbols, 0, chunk_cells=2**63 - 1)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("name", ["rnnt_loss_tdt_simple", "rnnt_loss_tdt_pruned"])
def test_pruned_tdt_losses_reject_a_blank_symbol_like_rnnt_loss_tdt(name):
    g = torch.Generator().manual_seed(2)
    B, T, S, C, D = 1, 4, 2, 5, 2
    lm, am = torch.randn(B, S + 1, C, generator=g), torch.randn(B, T, C, generator=g)
    lm_d, am_d = torch.randn(B, S + 1, D, generator=g), torch.randn(B, T, D, generator=g)
    symbols = torch.tensor([[1, 4]])  # 4 is the blank
    ranges = torch.arange(S + 1).view(1, 1, -1).expand(B, T, S + 1).contiguous()
    calls = {
        "rnnt_loss_tdt_simple": lambda sy, b=None: R.rnnt_loss_tdt_simple(
            lm, am, lm_d, am_d, sy, 4, [0, 1], boundary=b),
        "rnnt_loss_tdt_pruned": lambda sy, b=None: R.rnnt_loss_tdt_pruned(
            am[:, :, None] + lm[:, None], am_d[:, :, None] + lm_d[:, None], sy, ranges, 4,
            [0, 1], boundary=b),
    }
    with pytest.raises(ValueError, match=rf"{name}: symbols\[0\]\[1\] = 4 is a blank"):
        calls[name](symbols)
    with pytest.raises(ValueError, match=r"rnnt_loss_tdt: symbols\[0\]\[1\] = 4 is a blank"):
        R.rnnt_loss_tdt(am[:, :, None] + lm[:, None], am_d[:, :, None] + lm_d[:, None],
                        symbols, 4, [0, 1])
    # Past U_b the symbols are padding: never read, never checked.
    boundary = torch.tensor([[0, 0, 1, T]])
    assert calls[name](torch.tensor([[1, 10**6]]), boundary).isfinite()


def test_tdt_padding_symbols_are_not_checked_with_omega():
    logits, z = tdt_inputs(S=2, C=5)
    boundary = torch.tensor([[0, 0, 1, 4]])
    plain = R.rnnt_loss_tdt(logits, z, torch.tensor([[1, 0]]), 4, [0, 1], boundary, omega=0.5)
    padded = R.rnnt_loss_tdt(logits, z, torch.tensor([[1, -1]]), 4, [0, 1], boundary, omega=0.5)
    torch.testing.assert_close(padded, plain)


def test_tdt_messages_say_what_is_wrong():
    logits, z = tdt_inputs(D=3)
    symbols = torch.tensor([[0, 1]])
    with pytest.raises(RuntimeError, match=r"duration_logits must be 4-D \[B\]\[T\]\[S\+1\]\[D\], got 3-D"):
        R.rnnt_loss_tdt(logits, z[0], symbols, 2, [0, 1, 2])
    with pytest.raises(ValueError, match=r"rnnt_loss_tdt: durations must hold at most 32 values, got 40"):
        R.rnnt_loss_tdt(logits, torch.randn(1, 4, 3, 40, dtype=torch.float64), symbols, 2,
                        list(range(40)))
    for sigma in (math.nan, -math.inf, math.inf):
        with pytest.raises(ValueError, match=r"rnnt_loss_tdt: sigma must be finite"):
            R.rnnt_loss_tdt(logits, z, symbols, 2, [0, 1, 2], sigma=sigma)
    with pytest.raises(ValueError, match=r"rnnt_loss_tdt: fastemit_lambda must be finite"):
        R.rnnt_loss_tdt(logits, z, symbols, 2, [0, 1, 2], fastemit_lambda=math.inf)


def test_boundary_row_outside_the_lattice_is_a_value_error_everywhere():
    logits, z = tdt_inputs(C=5)
    symbols = torch.tensor([[0, 1]])
    bad = torch.tensor([[0, 0, 2, 5]])  # T_b > T
    with pytest.raises(ValueError, match=r"rnnt_loss_tdt: boundary\[0\]"):
        R.rnnt_loss_tdt(logits, z, symbols, 4, [0, 1], bad)
    with pytest.raises(ValueError, match=r"rnnt_loss: boundary\[0\]"):
        R.rnnt_loss(logits, symbols, 4, bad)


def test_double_backward_through_the_pruned_tdt_loss_names_it():
    logits, z = tdt_inputs(C=5)
    x = logits.clone().requires_grad_()
    ranges = torch.arange(3).view(1, 1, 3).expand(1, 4, 3).contiguous()
    loss = R.rnnt_loss_tdt_pruned(x, z, torch.tensor([[0, 1]]), ranges, 4, [0, 1])
    (grad,) = torch.autograd.grad(loss, x, create_graph=True)
    with pytest.raises(RuntimeError, match=r"rnnt::rnnt_loss_tdt_pruned is differentiable once"):
        grad.pow(2).sum().backward()
