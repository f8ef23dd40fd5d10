"""Bad inputs of the TDT and multi-blank losses raise clear errors naming
the op and the argument (checked in C++, so TorchScript/LibTorch see them)."""

import pytest
import torch

import rnnt_ops as R


def inputs(B=2, T=4, S=2, C=5, D=3):
    return (torch.randn(B, T, S + 1, C), torch.randn(B, T, S + 1, D),
            torch.randint(1, C - 1, (B, S)))


@pytest.mark.parametrize("durations, match", [
    ([], "durations must not be empty"),
    ([0, -1, 2], "durations must be >= 0"),
    ([0, 1, 1], "durations must be distinct"),
    ([0], "a duration >= 1"),
])
def test_tdt_bad_durations(durations, match):
    x, _, y = inputs()
    z = torch.randn(*x.shape[:3], max(len(durations), 1))
    if not durations:
        z = z[..., :0]
    with pytest.raises(ValueError, match=f"rnnt_loss_tdt.*{match}"):
        R.rnnt_loss_tdt(x, z, y, 0, durations)


def test_tdt_duration_logits_must_match_durations():
    x, z, y = inputs(D=3)
    with pytest.raises(RuntimeError, match="rnnt_loss_tdt: duration_logits must be .* D = len\\(durations\\) = 4, got D = 3"):
        R.rnnt_loss_tdt(x, z, y, 0, [0, 1, 2, 3])


def test_tdt_shape_dtype_device_checks():
    x, z, y = inputs()
    with pytest.raises(RuntimeError, match="symbols must be \\[B\\]\\[S\\]"):
        R.rnnt_loss_tdt(x, z, y[:, :1], 0, [0, 1, 2])
    with pytest.raises(RuntimeError, match="symbols must be int64"):
        R.rnnt_loss_tdt(x, z, y.float(), 0, [0, 1, 2])
    with pytest.raises(RuntimeError, match="duration_logits must have the dtype of logits"):
        R.rnnt_loss_tdt(x, z.double(), y, 0, [0, 1, 2])
    with pytest.raises(RuntimeError, match="duration_logits must be \\[B\\]\\[T\\]\\[S\\+1\\]\\[D\\]"):
        R.rnnt_loss_tdt(x, z[:, :2], y, 0, [0, 1, 2])
    with pytest.raises(ValueError, match="termination_symbol must be in"):
        R.rnnt_loss_tdt(x, z, y, 5, [0, 1, 2])
    with pytest.raises(ValueError, match="reduction must be"):
        R.rnnt_loss_tdt(x, z, y, 0, [0, 1, 2], reduction="avg")
    with pytest.raises(ValueError, match="omega must be in"):
        R.rnnt_loss_tdt(x, z, y, 0, [0, 1, 2], omega=1.5)


def test_tdt_value_checks():
    x, z, y = inputs()
    with pytest.raises(ValueError, match="boundary\\[1\\] = \\(0, 0, 3, 4\\) must be"):
        R.rnnt_loss_tdt(x, z, y, 0, [0, 1, 2], boundary=torch.tensor([[0, 0, 2, 4], [0, 0, 3, 4]]))
    with pytest.raises(ValueError, match="symbols\\[0\\]\\[1\\] = 0 is a blank"):
        R.rnnt_loss_tdt(x, z, torch.tensor([[1, 0], [1, 2]]), 0, [0, 1, 2])
    with pytest.raises(ValueError, match="symbols\\[1\\]\\[0\\] = 7 must be in \\[0, C = 5\\)"):
        R.rnnt_loss_tdt(x, z, torch.tensor([[1, 2], [7, 2]]), 0, [0, 1, 2])


@pytest.mark.parametrize("ids, durs, match", [
    ([4, 4], [2, 3], "big_blank_ids must be distinct"),
    ([0], [2], "differ from termination_symbol"),
    ([5], [2], "big_blank_ids must be in"),
    ([4], [1], "big_blank_durations must be >= 2"),
    ([4, 3], [2], "same length"),
])
def test_multiblank_bad_big_blanks(ids, durs, match):
    x, _, y = inputs()
    with pytest.raises(ValueError, match=f"rnnt_loss_multiblank.*{match}"):
        R.rnnt_loss_multiblank(x, y, 0, ids, durs)


def test_multiblank_symbol_colliding_with_big_blank():
    x, _, _ = inputs()
    with pytest.raises(ValueError, match="symbols\\[1\\]\\[1\\] = 4 is a blank"):
        R.rnnt_loss_multiblank(x, torch.tensor([[1, 2], [3, 4]]), 0, [4], [2])


def test_int32_symbols_and_boundary_equal_int64():
    x, z, y = inputs()
    boundary = torch.tensor([[0, 0, 2, 4], [0, 0, 1, 3]])
    expected = R.rnnt_loss_tdt(x, z, y, 0, [0, 1, 2], boundary=boundary, reduction="none")
    got = R.rnnt_loss_tdt(x, z, y.int(), 0, [0, 1, 2], boundary=boundary.int(), reduction="none")
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    multiblank = [R.rnnt_loss_multiblank(x, s, 0, [4], [2], boundary=b, reduction="none")
                  for s, b in ((y, boundary), (y.int(), boundary.int()))]
    torch.testing.assert_close(multiblank[1], multiblank[0], rtol=0, atol=0)
