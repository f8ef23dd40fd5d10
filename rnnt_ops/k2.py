"""k2's RNN-T API on rnnt_ops' ops: ``from rnnt_ops import k2`` and calls
such as ``k2.rnnt_loss_pruned(...)`` run as written for k2.

Every RNN-T name k2 exports (``k2/python/k2/__init__.py``: the losses,
pruning, the recursions, ``with_cuda``) is here with k2's positional order,
defaults and return conventions, which differ from fast_rnnt's in places:

- ``rnnt_loss`` has no ``return_grad`` (``reduction`` is its last argument);
- ``rnnt_loss_pruned`` takes ``use_hat_loss`` right after ``reduction``
  (fast_rnnt: ``return_grad``) and returns the loss only;
- ``get_rnnt_logprobs_joint`` takes ``rnnt_type`` before ``boundary``;
- ``get_rnnt_logprobs_pruned`` has no default for ``boundary``;
- ``with_cuda`` is a bool, not a function;
- ``get_rnnt_prune_ranges_deprecated``, the window choice k2 keeps for its
  tests, is here too.

``get_rnnt_prune_ranges`` keeps k2's window rule (that of fast_rnnt, see
:mod:`rnnt_ops.fast_rnnt`): a modified/constrained ``s_range = 1`` is kept.
rnnt_ops' extras (``zero_infinity``, ``inplace_grad``, ``fastemit_lambda``)
are not offered here: use :mod:`rnnt_ops` itself for them.
"""

from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from rnnt_ops.rnnt_loss import (
    _rnnt_loss as _rnnt_loss_impl,
    _rnnt_loss_pruned as _rnnt_loss_pruned_impl,
    get_rnnt_logprobs_joint as _get_rnnt_logprobs_joint_impl,
    get_rnnt_logprobs_pruned as _get_rnnt_logprobs_pruned_impl,
)
from rnnt_ops._build import with_cuda as _with_cuda
# These take the same arguments, in the same order, in k2 and fast_rnnt.
from rnnt_ops.fast_rnnt import (  # noqa: F401
    _peer_prune_ranges,
    do_rnnt_pruning,
    get_rnnt_logprobs,
    get_rnnt_logprobs_smoothed,
    get_rnnt_prune_ranges,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)
from rnnt_ops.mutual_information import (  # noqa: F401
    joint_mutual_information_recursion,
    mutual_information_recursion,
)

__all__ = [
    "do_rnnt_pruning",
    "get_rnnt_logprobs",
    "get_rnnt_logprobs_joint",
    "get_rnnt_logprobs_pruned",
    "get_rnnt_logprobs_smoothed",
    "get_rnnt_prune_ranges",
    "get_rnnt_prune_ranges_deprecated",
    "joint_mutual_information_recursion",
    "mutual_information_recursion",
    "rnnt_loss",
    "rnnt_loss_pruned",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
    "with_cuda",
]

# k2.with_cuda: whether the library was built with CUDA (a bool in k2).
with_cuda: bool = _with_cuda()

LossOut = Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]


def get_rnnt_logprobs_joint(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    rnnt_type: str = "regular",
    boundary: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """k2.get_rnnt_logprobs_joint (``rnnt_type`` before ``boundary``)."""
    return _get_rnnt_logprobs_joint_impl(logits, symbols, termination_symbol, boundary, rnnt_type)


def rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """k2.rnnt_loss: :func:`rnnt_ops.rnnt_loss` (no ``return_grad`` in k2)."""
    return _rnnt_loss_impl(logits, symbols, termination_symbol, boundary, rnnt_type,
                            delay_penalty, reduction)


def get_rnnt_prune_ranges_deprecated(
    px_grad: Tensor,
    py_grad: Tensor,
    boundary: Tensor,
    s_range: int,
) -> Tensor:
    """k2.get_rnnt_prune_ranges_deprecated: k2's earlier window choice, kept
    by k2 for comparison in its tests. Each frame's window start is the s0
    with the largest total occupation ``px_grad + py_grad`` of the rows
    ``[s0, s0 + s_range)``; from the item's last frame on the window ends at
    its ``s_end``; then the starts are made non-decreasing, 0 on frame 0 and
    growing by less than ``s_range`` per frame (less than 2 for
    modified/constrained) as in :func:`get_rnnt_prune_ranges`. No widening
    beyond the cap ``S + 1``."""
    B, S, T1 = px_grad.shape
    T = py_grad.size(2)
    if tuple(py_grad.shape) != (B, S + 1, T) or T1 not in (T, T + 1):
        raise RuntimeError(
            "rnnt_ops.k2.get_rnnt_prune_ranges_deprecated: px_grad must be [B][S][T+1] or "
            f"[B][S][T] and py_grad [B][S+1][T], got {list(px_grad.shape)} and "
            f"{list(py_grad.shape)}")
    modified = T1 == T
    if s_range > S:
        s_range = S + 1
    if s_range < (1 if modified else 2):
        raise ValueError(
            "rnnt_ops.k2.get_rnnt_prune_ranges_deprecated: s_range must be >= "
            f"{1 if modified else 2} for {'modified' if modified else 'regular'} RNN-T, "
            f"got {s_range}")
    boundary = boundary.to(device=px_grad.device, dtype=torch.int64)
    # Occupation of the nodes of row s at frame t (its symbol arc and its
    # blank arc), [B][S+1][T1]; row S has no symbol arc, a regular lattice's
    # column T no blank arc.
    occupation = torch.nn.functional.pad(px_grad, (0, 0, 0, 1))
    occupation = occupation + torch.nn.functional.pad(py_grad, (0, T1 - T))
    cumulative = torch.nn.functional.pad(occupation.cumsum(1), (0, 0, 1, 0))
    window_sums = cumulative[:, s_range:] - cumulative[:, :-s_range]  # [B][S+2-s_range][T1]
    starts = window_sums.argmax(1)[:, :T]
    frames = torch.arange(T, device=px_grad.device).view(1, T)
    last_start = (boundary[:, 2:3] - (s_range - 1)).clamp(min=0)
    starts = torch.where(frames < boundary[:, 3:4] - 1, starts, last_start)
    starts = _settle_starts(starts, 2 if modified else s_range)
    return starts.unsqueeze(2) + torch.arange(s_range, device=px_grad.device)


def _settle_starts(starts: Tensor, max_step: int) -> Tensor:
    """Window starts ``[B][T]`` made non-decreasing, 0 on frame 0 and growing
    by less than ``max_step`` per frame, each as large as those constraints
    allow below the given value: a running minimum from the right, then the
    same on ``ramp - starts`` (``ramp[t] = t * (max_step - 1)``), whose being
    non-decreasing is the step bound, floored at 0 for frame 0."""
    def suffix_min(x: Tensor) -> Tensor:
        return x.flip(1).cummin(1).values.flip(1)

    ramp = torch.arange(starts.size(1), device=starts.device) * (max_step - 1)
    return ramp - suffix_min(ramp - suffix_min(starts)).clamp(min=0)


def get_rnnt_logprobs_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor],
    rnnt_type: str = "regular",
) -> Tuple[Tensor, Tensor]:
    """k2.get_rnnt_logprobs_pruned (``boundary`` has no default in k2)."""
    return _get_rnnt_logprobs_pruned_impl(logits, symbols, ranges, termination_symbol, boundary,
                                          rnnt_type)


def rnnt_loss_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    use_hat_loss: bool = False,
) -> Tensor:
    """k2.rnnt_loss_pruned (``use_hat_loss`` where fast_rnnt has ``return_grad``)."""
    return _rnnt_loss_pruned_impl(logits, symbols, ranges, termination_symbol, boundary,
                                   rnnt_type, delay_penalty, reduction, use_hat_loss)


