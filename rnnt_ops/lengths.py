"""Padded-batch lengths as the ``boundary`` the losses take, and the check
that an argument is a tensor (a Python list gets an error saying so)."""

import torch
from torch import Tensor


def require_tensor(value: Tensor, name: str, function: str) -> None:
    """Raise a TypeError naming ``function`` and ``name`` unless ``value``
    is a tensor (a no-op under TorchScript, whose signatures check types)."""
    if not torch.jit.is_scripting():
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{function}: {name} must be a torch.Tensor, got {type(value).__name__}; "
                f"pass a tensor, e.g. torch.tensor({name}) on the logits' device"
            )


def is_index_dtype(t: Tensor) -> bool:
    return t.dtype == torch.int32 or t.dtype == torch.int64


def _check_lengths(lengths: Tensor, name: str, function: str) -> None:
    if lengths.dim() != 1 or not is_index_dtype(lengths):
        raise RuntimeError(
            f"{function}: {name} must be a 1-D int32 or int64 tensor [B], "
            f"got a {lengths.dim()}-D {lengths.dtype} tensor"
        )


def check_on_device(t: Tensor, name: str, like: Tensor, like_name: str, function: str) -> None:
    """``t`` on ``like``'s device (an index tensor may also be on the CPU
    beside a real device, never a meta tensor beside real ones)."""
    movable = t.device.type == "cpu" and like.device.type != "meta"
    if t.device != like.device and not movable:
        raise RuntimeError(
            f"{function}: {name} must be on the device of {like_name} ({like.device}) "
            f"or on the CPU, got {t.device}"
        )


def checked_lengths(lengths: Tensor, most: int, name: str, function: str) -> Tensor:
    """int64 ``lengths``, checked (with value checks on, in traced graphs
    too) to lie in [0, most]."""
    _check_lengths(lengths, name, function)
    return torch.ops.rnnt._checked_index(lengths.to(torch.int64), most + 1, name, function)


def boundary_from_lengths(logit_lengths: Tensor, target_lengths: Tensor) -> Tensor:
    """The ``boundary`` of a padded batch: int64 ``[B][4]`` rows
    ``(0, 0, target_lengths[b], logit_lengths[b])``, i.e. ``(s_begin,
    t_begin, s_end, t_end)``, on ``logit_lengths``' device.

    Args:
      logit_lengths: int32 or int64 ``[B]``, frames of each item (T_b).
      target_lengths: int32 or int64 ``[B]``, symbols of each item (S_b).
    Their values are checked by the losses that take the boundary.
    """
    function = "rnnt_ops.boundary_from_lengths"
    require_tensor(logit_lengths, "logit_lengths", function)
    require_tensor(target_lengths, "target_lengths", function)
    _check_lengths(logit_lengths, "logit_lengths", function)
    _check_lengths(target_lengths, "target_lengths", function)
    if logit_lengths.size(0) != target_lengths.size(0):
        raise RuntimeError(
            f"{function}: logit_lengths and target_lengths must both be [B], got "
            f"[{logit_lengths.size(0)}] and [{target_lengths.size(0)}]"
        )
    if target_lengths.device != logit_lengths.device:
        raise RuntimeError(
            f"{function}: target_lengths must be on the device of logit_lengths "
            f"({logit_lengths.device}), got {target_lengths.device}"
        )
    zeros = torch.zeros_like(logit_lengths, dtype=torch.int64)
    return torch.stack(
        [zeros, zeros, target_lengths.to(torch.int64), logit_lengths.to(torch.int64)], dim=1
    )
