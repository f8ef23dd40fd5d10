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
        raise ValueError(
            f"{function}: {name} must be a 1-D int32 or int64 tensor [B], "
            f"got a {lengths.dim()}-D {lengths.dtype} tensor"
        )


def boundary_from_lengths(logit_lengths: Tensor, target_lengths: Tensor) -> Tensor:
    """The ``boundary`` of a padded batch: int64 ``[B][4]`` rows
    ``(0, 0, target_lengths[b], logit_lengths[b])``, i.e. ``(s_begin,
    t_begin, s_end, t_end)``, on ``logit_lengths``' device.

    Args:
      logit_lengths: int32 or int64 ``[B]``, frames of each item (T_b).
      target_lengths: int32 or int64 ``[B]``, symbols of each item (S_b).
    """
    function = "rnnt_ops.boundary_from_lengths"
    require_tensor(logit_lengths, "logit_lengths", function)
    require_tensor(target_lengths, "target_lengths", function)
    _check_lengths(logit_lengths, "logit_lengths", function)
    _check_lengths(target_lengths, "target_lengths", function)
    if logit_lengths.size(0) != target_lengths.size(0):
        raise ValueError(
            f"{function}: logit_lengths and target_lengths must both be [B], got "
            f"[{logit_lengths.size(0)}] and [{target_lengths.size(0)}]"
        )
    if logit_lengths.device != target_lengths.device:
        raise ValueError(
            f"{function}: logit_lengths and target_lengths must be on the same device, "
            f"got {logit_lengths.device} and {target_lengths.device}"
        )
    zeros = torch.zeros_like(logit_lengths, dtype=torch.int64)
    return torch.stack(
        [zeros, zeros, target_lengths.to(torch.int64), logit_lengths.to(torch.int64)], dim=1
    )
