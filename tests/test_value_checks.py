"""rnnt_ops.set_value_checks / value_checks: switching off the checks that
read index and boundary values (host copies; on CUDA, waits for the device)
changes no result, reads no value on the host, and leaves bad values unable
to reach outside any tensor."""

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

import rnnt_ops as R


@pytest.fixture(autouse=True)
def restore_the_switch():
    previous = R.value_checks_enabled()
    yield
    R.set_value_checks(previous)


def test_switch_returns_the_previous_setting_and_the_block_restores_it():
    assert R.value_checks_enabled()  # the default
    assert R.set_value_checks(False) is True
    assert not R.value_checks_enabled()
    with pytest.raises(KeyError):
        with R.value_checks(True):
            assert R.value_checks_enabled()
            raise KeyError
    assert not R.value_checks_enabled()
    assert R.set_value_checks(True) is False
    assert torch.ops.rnnt.value_checks_enabled()


def pruned_step(device, seed=0, B=3, T=9, S=4, C=12, s_range=3):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64).to(device).requires_grad_()
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64).to(device).requires_grad_()
    symbols = torch.randint(1, C, (B, S), generator=g).to(device)
    boundary = torch.tensor([[0, 0, S, T], [0, 0, S - 1, T - 2], [0, 1, 2, T - 1]], device=device)
    simple, (px_grad, py_grad) = R.rnnt_loss_simple(lm, am, symbols, 0, boundary, return_grad=True)
    ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
    am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges)
    pruned = R.rnnt_loss_pruned(torch.tanh(am_p + lm_p), symbols, ranges, 0, boundary)
    full = R.rnnt_loss(torch.tanh(am[:, :, None] + lm[:, None]), symbols, 0, boundary)
    loss = 0.5 * simple + pruned + full
    return loss.detach(), torch.autograd.grad(loss, (am, lm))


def test_results_do_not_change(device):
    loss, grads = pruned_step(device)
    with R.value_checks(False):
        loss_off, grads_off = pruned_step(device)
    torch.testing.assert_close(loss_off, loss, rtol=0, atol=0)
    for a, b in zip(grads_off, grads):
        # CUDA gathers' backwards add atomically in no fixed order.
        torch.testing.assert_close(a, b, **({} if device == "cuda" else dict(rtol=0, atol=0)))


def host_reads(run):
    """Operators of a CPU run that read tensor values on the host (on CUDA,
    each would wait for the device): .item() and the index checks' aminmax."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    names = [e.name for e in prof.events()]
    return sum(n in ("aten::_local_scalar_dense", "aten::aminmax") for n in names)


def test_switched_off_the_step_reads_no_values_on_the_host():
    assert host_reads(lambda: pruned_step("cpu")) > 0
    with R.value_checks(False):
        assert host_reads(lambda: pruned_step("cpu")) == 0


def test_unchecked_boundary_acts_as_clamped_into_the_lattice(device):
    g = torch.Generator().manual_seed(1)
    px = torch.randn(2, 3, 5, generator=g).to(device)
    py = torch.randn(2, 4, 4, generator=g).to(device)
    outside = torch.tensor([[-2, -1, 7, 30], [1, 2, 3, 3]], device=device)
    inside = torch.tensor([[0, 0, 3, 4], [1, 2, 3, 3]], device=device)
    with pytest.raises(RuntimeError, match=r"boundary\[0\]"):
        R.mutual_information_recursion(px, py, outside)
    with R.value_checks(False):
        got = R.mutual_information_recursion(px, py, outside, return_grad=True)
    want = R.mutual_information_recursion(px, py, inside, return_grad=True)
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=0)
    for a, b in zip(got[1], want[1]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_unchecked_bad_symbols_still_cannot_be_read_past_on_cpu():
    am, lm = torch.randn(2, 6, 5), torch.randn(2, 3, 5)
    symbols = torch.tensor([[1, 9], [2, 3]])  # 9 >= C = 5
    with pytest.raises(ValueError, match="symbols must lie in"):
        R.rnnt_loss_simple(lm, am, symbols, 0)
    with R.value_checks(False):
        with pytest.raises(RuntimeError, match="out of bounds"):  # ATen's gather
            R.rnnt_loss_simple(lm, am, symbols, 0)
        with pytest.raises(RuntimeError, match="outside"):  # the fused joiner kernel
            R.rnnt_loss(am[:, :, None] + lm[:, None], symbols, 0)
