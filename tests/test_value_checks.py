"""rnnt_ops.set_value_checks / value_checks: switching off the checks that
read index and boundary values (host copies; on CUDA, waits for the device)
changes no result, reads no value on the host, and leaves bad values unable
to reach outside any tensor."""

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

import rnnt_ops as R
from helpers import full_loss, loss_and_grads, pruned_loss, step_inputs


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


def simple_pruned_and_full(inputs, inplace_grad, rnnt_type):
    am, lm, symbols, boundary, _ = inputs
    simple = R.rnnt_loss_simple(lm, am, symbols, 0, boundary, rnnt_type=rnnt_type, reduction="sum")
    return (0.5 * simple + pruned_loss(inputs, inplace_grad, rnnt_type)
            + full_loss(inputs, inplace_grad, rnnt_type))


def step(inputs):
    """0.5 * simple + pruned (ranges and pruning included) + full on
    test_inplace_grad's inputs: the loss and its gradients."""
    return loss_and_grads(simple_pruned_and_full, inputs, False, "regular")


def test_results_do_not_change(device):
    inputs = step_inputs(device, torch.float64)
    loss, grads = step(inputs)
    with R.value_checks(False):
        loss_off, grads_off = step(inputs)
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
    inputs = step_inputs("cpu", torch.float64)
    assert host_reads(lambda: step(inputs)) > 0
    with R.value_checks(False):
        assert host_reads(lambda: step(inputs)) == 0


def test_unchecked_boundary_acts_as_clamped_into_the_lattice(device):
    g = torch.Generator().manual_seed(1)
    px = torch.randn(2, 3, 5, generator=g).to(device)
    py = torch.randn(2, 4, 4, generator=g).to(device)
    outside = torch.tensor([[-2, -1, 7, 30], [1, 2, 3, 3]], device=device)
    inside = torch.tensor([[0, 0, 3, 4], [1, 2, 3, 3]], device=device)
    with pytest.raises(ValueError, match=r"boundary\[0\]"):
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
        with pytest.raises(RuntimeError, match="outside"):  # the simple loss's lattice kernel
            R.rnnt_loss_simple(lm, am, symbols, 0)
        with pytest.raises(RuntimeError, match="outside"):  # the fused joiner kernel
            R.rnnt_loss(am[:, :, None] + lm[:, None], symbols, 0)
