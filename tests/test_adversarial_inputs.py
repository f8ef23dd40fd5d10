"""Inputs an adversarial pass found slipping through: meta tensors mixed
with real ones, boundaries outside the lattice in the px/py constructions,
errors that named an internal op or the wrong argument, feature sizes that
disagree, and logits rows with no probability mass."""

import pytest
import torch

import rnnt_ops as R

B, S, T, C = 2, 3, 4, 5


def simple_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    lm = torch.randn(B, S + 1, C, generator=g, dtype=torch.float64)
    symbols = torch.randint(1, C, (B, S), generator=g)
    return am, lm, symbols


def recursion_inputs():
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, S, T + 1, generator=g), torch.randn(B, S + 1, T, generator=g)


BOUNDARY = [[0, 0, S, T]] * B

RECURSIONS = {
    "mutual_information": lambda px, py, b: R.mutual_information_recursion(px, py, b),
    "mutual_information(return_grad)":
        lambda px, py, b: R.mutual_information_recursion(px, py, b, return_grad=True),
    "joint_mutual_information_recursion":
        lambda px, py, b: R.joint_mutual_information_recursion([px], [py], b),
}


@pytest.mark.parametrize("name", list(RECURSIONS))
def test_meta_boundary_with_cpu_px_py_raises_a_device_error(name):
    px, py = recursion_inputs()
    boundary = torch.tensor(BOUNDARY, device="meta")
    with pytest.raises(RuntimeError, match=r"mutual_information.*boundary must be on px's device"):
        RECURSIONS[name](px, py, boundary)


@pytest.mark.parametrize("name", list(RECURSIONS))
def test_meta_px_with_cpu_py_raises_a_device_error(name):
    px, py = recursion_inputs()
    with pytest.raises(RuntimeError, match=r"px and py must be on the same device"):
        RECURSIONS[name](px.to("meta"), py, None)


def test_all_meta_still_gives_shapes():
    px, py = recursion_inputs()
    out = R.mutual_information_recursion(px.to("meta"), py.to("meta"),
                                         torch.tensor(BOUNDARY, device="meta"))
    assert out.shape == (B,) and out.device.type == "meta"


def logprobs_calls(am, lm, symbols, boundary):
    logits = am[:, :, None] + lm[:, None]
    ranges = torch.arange(2).expand(B, T, 2).contiguous()
    return {
        "get_rnnt_logprobs": lambda: R.get_rnnt_logprobs(lm, am, symbols, 0, boundary=boundary),
        "get_rnnt_logprobs_smoothed":
            lambda: R.get_rnnt_logprobs_smoothed(lm, am, symbols, 0, boundary=boundary),
        "get_rnnt_logprobs_joint": lambda: R.get_rnnt_logprobs_joint(logits, symbols, 0, boundary),
        "get_rnnt_logprobs_pruned": lambda: R.get_rnnt_logprobs_pruned(
            logits[:, :, :2], symbols, ranges, 0, boundary),
    }


BAD_BOUNDARIES = {
    "s_end > S": [[0, 0, S + 1, T], [0, 0, S, T]],
    "t_end > T": [[0, 0, S, T], [0, 0, S, T + 1]],
    "s_begin > s_end": [[2, 0, 1, T], [0, 0, S, T]],
    "negative": [[0, -1, S, T], [0, 0, S, T]],
}


@pytest.mark.parametrize("bad", list(BAD_BOUNDARIES))
@pytest.mark.parametrize("name", ["get_rnnt_logprobs", "get_rnnt_logprobs_smoothed",
                                  "get_rnnt_logprobs_joint", "get_rnnt_logprobs_pruned"])
def test_logprobs_reject_a_boundary_outside_the_lattice(name, bad):
    am, lm, symbols = simple_inputs()
    boundary = torch.tensor(BAD_BOUNDARIES[bad])
    with pytest.raises(ValueError, match=rf"{name}: boundary\[\d\] = .* must satisfy"):
        logprobs_calls(am, lm, symbols, boundary)[name]()
    # A good boundary passes.
    logprobs_calls(am, lm, symbols, torch.tensor(BOUNDARY))[name]()


def test_errors_name_the_loss_the_user_called():
    am, lm, symbols = simple_inputs()
    with pytest.raises(ValueError, match=r"^rnnt::rnnt_loss_simple: termination_symbol"):
        R.rnnt_loss_simple(lm, am, symbols, C)
    with pytest.raises(ValueError, match=r"^rnnt::rnnt_loss_smoothed: boundary\[0\]"):
        R.rnnt_loss_smoothed(lm, am, symbols, 0, boundary=torch.tensor([[0, 0, S + 1, T]] * B))
    with pytest.raises(ValueError, match=r"^rnnt::rnnt_loss_simple: symbols must lie in"):
        R.rnnt_loss_simple(lm, am, symbols + C, 0)
    logits = am[:, :, None] + lm[:, None]
    with pytest.raises(RuntimeError, match=r"^rnnt::rnnt_loss: symbols must be int64"):
        R.rnnt_loss(logits, symbols.float(), 0)


def test_an_lm_with_s_rows_is_blamed_on_lm():
    am, lm, symbols = simple_inputs()
    for call in (lambda: R.rnnt_loss_simple(lm[:, :S], am, symbols, 0),
                 lambda: R.rnnt_loss_smoothed(lm[:, :S], am, symbols, 0),
                 lambda: R.get_rnnt_logprobs(lm[:, :S], am, symbols, 0)):
        with pytest.raises(RuntimeError, match=r": lm \[B\]\[S\+1\]\[C\] and symbols \[B\]\[S\] disagree on S: lm \[2, 3, 5\] has S\+1 = 3 rows"):
            call()
    logits = am[:, :, None] + lm[:, None, :S]
    with pytest.raises(RuntimeError, match=r"rnnt::rnnt_loss: logits \[B\]\[T\]\[S\+1\]\[C\] and symbols \[B\]\[S\] disagree"):
        R.rnnt_loss(logits, symbols, 0)


def test_do_rnnt_pruning_rejects_different_feature_sizes():
    am, lm, _ = simple_inputs()
    ranges = torch.arange(2).expand(B, T, 2).contiguous()
    with pytest.raises(RuntimeError, match=r"do_rnnt_pruning: am .* and lm .* one feature size"):
        R.do_rnnt_pruning(am, lm[:, :, :C - 1], ranges)


@pytest.mark.parametrize("rnnt_type", ["regular", "modified", "constrained"])
def test_an_all_minus_inf_logits_row_gives_inf_loss_and_zero_grads(rnnt_type):
    am, lm, symbols = simple_inputs()
    logits = (am[:, :, None] + lm[:, None]).detach()
    logits[1] = float("-inf")  # item 1 has no probability mass anywhere
    logits[0, 1, 0] = float("-inf")  # one row of item 0: paths avoid it
    logits.requires_grad_()
    loss = R.rnnt_loss(logits, symbols, 0, rnnt_type=rnnt_type, reduction="none")
    assert torch.isinf(loss[1]) and loss[1] > 0
    assert torch.isfinite(loss[0])
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[1] == 0).all() and (logits.grad[0, 1, 0] == 0).all()
    # The same through the pruned loss.
    ranges = torch.arange(2).expand(B, T, 2).contiguous()
    pruned_logits = logits.detach()[:, :, :2].clone().requires_grad_()
    pruned = R.rnnt_loss_pruned(pruned_logits, symbols, ranges, 0, rnnt_type=rnnt_type,
                                reduction="none", zero_infinity=True)
    pruned.sum().backward()
    assert torch.isfinite(pruned_logits.grad).all() and (pruned_logits.grad[1] == 0).all()
