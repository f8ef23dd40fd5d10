"""The memo of value checks already passed (csrc/ops/common/checked_values.h):
one pruned training step reads its inputs' values on the host once (on CUDA
each read waits for the device), on the CPU and CUDA alike. A tensor changed
since its check, or a new tensor where a checked one was, is read again and
its bad values raise."""

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

import rnnt_ops as R
from helpers import pruned_loss, step_inputs


def host_reads(run):
    """How many times `run` read tensor values on the host for a check."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return sum(e.name == "rnnt::host_read" for e in prof.events())


def pruned_step(inputs):
    """helpers.pruned_loss's path: simple loss with grads, ranges,
    pruning, joiner, pruned loss; then backward."""
    pruned_loss(inputs, False, "regular").backward()


def test_a_pruned_step_reads_its_inputs_once(device):
    inputs = step_inputs(device, torch.float64)
    # The simple loss reads symbols and boundary, together; the ranges come
    # from get_rnnt_prune_ranges inside [0, S]; nothing is read again.
    assert host_reads(lambda: pruned_step(inputs)) == 1
    assert host_reads(lambda: pruned_step(inputs)) == 0  # same, unchanged tensors


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_read_waits_for_its_copy_not_for_the_queue_on_cuda():
    """The one read of a new batch's symbols and boundary is a copy queued
    early and an event wait at the end of the op (read_ahead.h), not a
    stream synchronisation that drains the queue."""
    inputs = step_inputs("cuda", torch.float64)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        pruned_step(inputs)
    calls = {e.key: e.count for e in prof.key_averages()}
    assert calls.get("cudaStreamSynchronize", 0) == 0
    assert calls.get("cudaEventSynchronize", 0) == 1


def test_without_the_memo_each_op_would_read_again(device):
    """The same step on copies of symbols and boundary for each op reads
    them in every op: the memo, not a skipped check, saves the reads."""
    am, lm, symbols, boundary, joiner = step_inputs(device, torch.float64)

    def step():
        _, (px_grad, py_grad) = R.rnnt_loss_simple(
            lm, am, symbols.clone(), 0, boundary.clone(), return_grad=True)
        ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary.clone(), 3).clone()
        am_p, lm_p = R.do_rnnt_pruning(am, lm, ranges.clone())
        R.rnnt_loss_pruned(joiner(torch.tanh(am_p + lm_p)), symbols.clone(), ranges.clone(),
                           0, boundary.clone())

    # simple: symbols with boundary; pruning: boundary (window size), ranges;
    # pruned: symbols with boundary, ranges. The recursions trust the
    # boundary their loss has just read.
    assert host_reads(step) == 5


def test_a_tensor_changed_in_place_is_checked_again(device):
    inputs = step_inputs(device, torch.float64)
    am, lm, symbols, boundary, _ = inputs
    R.rnnt_loss_simple(lm, am, symbols, 0, boundary)
    symbols[0, 0] = 11  # C = 11: out of range
    with pytest.raises(ValueError, match=r"symbols must lie in \[0, 11\)"):
        R.rnnt_loss_simple(lm, am, symbols, 0, boundary)
    symbols[0, 0] = 1
    boundary[1, 3] = 99  # through a view: the version counter is shared
    with pytest.raises(ValueError, match=r"boundary\[1\]"):
        R.rnnt_loss_simple(lm, am, symbols, 0, boundary)


def test_changed_ranges_are_checked_again(device):
    am, lm, symbols, boundary, _ = step_inputs(device, torch.float64)
    _, (px_grad, py_grad) = R.rnnt_loss_simple(lm, am, symbols, 0, boundary, return_grad=True)
    ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 3)
    R.do_rnnt_pruning(am, lm, ranges)
    ranges.add_(100)
    with pytest.raises(ValueError, match="ranges must lie in"):
        R.do_rnnt_pruning(am, lm, ranges)


def test_a_boundary_checked_for_a_larger_lattice_is_checked_again(device):
    g = torch.Generator().manual_seed(0)
    px, py = torch.randn(1, 4, 6, generator=g), torch.randn(1, 5, 5, generator=g)
    boundary = torch.tensor([[0, 0, 4, 5]], device=device)
    R.mutual_information_recursion(px.to(device), py.to(device), boundary)
    with pytest.raises(ValueError, match=r"s_end <= S = 3"):
        R.mutual_information_recursion(px[:, :3].to(device), py[:, :4].to(device), boundary)


def test_a_new_tensor_in_a_checked_ones_place_is_checked(device):
    am, lm, symbols, boundary, _ = step_inputs(device, torch.float64)
    good = symbols.clone()
    R.rnnt_loss_simple(lm, am, good, 0, boundary)
    shape = good.shape
    del good  # its memory may well hold the next tensor
    bad = torch.full(shape, 50, device=device)
    with pytest.raises(ValueError, match="symbols must lie in"):
        R.rnnt_loss_simple(lm, am, bad, 0, boundary)


def test_ranges_lie_in_the_lattice_even_for_a_bad_boundary(device):
    """With value checks off, get_rnnt_prune_ranges does not reject a bad
    boundary; its ranges are still clamped into [0, S] (what the memo
    records for them). Unclamped, the last frame's window here would start
    at s_end - 1 = 8."""
    g = torch.Generator().manual_seed(2)
    px_grad = torch.rand(2, 4, 7, generator=g).to(device)
    py_grad = torch.rand(2, 5, 6, generator=g).to(device)
    bad = torch.tensor([[0, 0, 9, 6], [0, 0, 4, 6]], device=device)  # s_end 9 > S = 4
    with R.value_checks(False):
        ranges = R.get_rnnt_prune_ranges(px_grad, py_grad, bad, 2)
    assert int(ranges.min()) >= 0 and int(ranges.max()) <= 4


def test_inference_tensors_are_checked_every_time(device):
    am, lm, symbols, boundary, _ = step_inputs(device, torch.float64)
    with torch.inference_mode():
        symbols_inf, boundary_inf = symbols.clone(), boundary.clone()
        run = lambda: R.rnnt_loss_simple(lm.detach(), am.detach(), symbols_inf, 0, boundary_inf)  # noqa: E731
        assert host_reads(run) == 2  # symbols, boundary: nothing remembered
        assert host_reads(run) == 2


def test_a_checked_index_copy_is_not_read_again(device):
    """rnnt::_checked_index returns a copy of the index it read, remembered
    as checked: given the copy, a check finds it in the memo. The torchaudio
    door reads each length tensor and its targets once, and the loss behind
    it the boundary made from the lengths (the targets' copy it knows)."""
    import rnnt_ops

    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 5, 4, 6, generator=g).to(device)
    targets = torch.randint(1, 5, (2, 3), generator=g).to(device)
    lengths = (torch.tensor([5, 4]).to(device), torch.tensor([3, 2]).to(device))
    assert host_reads(lambda: rnnt_ops.functional.rnnt_loss(logits, targets, *lengths)) == 4
    index = torch.tensor([0, 2, 1], device=device)
    checked = torch.ops.rnnt._checked_index(index, 3, "index")
    assert host_reads(lambda: torch.ops.rnnt._checked_index(checked, 3, "index")) == 0
