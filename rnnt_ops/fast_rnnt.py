"""fast_rnnt 1.2's Python API on rnnt_ops' ops: ``import rnnt_ops.fast_rnnt as
fast_rnnt`` and a program written for fast_rnnt runs unchanged.

Every public name of fast_rnnt 1.2 (``fast_rnnt/__init__.py``) is here with
fast_rnnt's positional order, defaults and return conventions: each loss
takes ``return_grad`` right after ``reduction`` and then returns
``(loss, (px_grad, py_grad))``; ``get_rnnt_logprobs_joint`` takes
``boundary`` before ``rnnt_type``; ``with_cuda()`` is a function. Where
fast_rnnt has no such argument, rnnt_ops' extras (``zero_infinity``,
``inplace_grad``, ``use_hat_loss``, ``fastemit_lambda``) are not offered:
use :mod:`rnnt_ops` itself for them.

``get_rnnt_prune_ranges`` keeps fast_rnnt's window rule: a regular
``s_range`` too small for some item is raised to the batch maximum of
``(s_end - 1) // t_end + 2``, a modified/constrained one is kept as given
(``s_range >= 1``), and any is capped at ``S + 1``. (:mod:`rnnt_ops` raises a
modified/constrained ``s_range = 1`` to 2, because a constrained emission
also scores the next row's blank; with ``s_range = 1`` fast_rnnt's
constrained pruned loss, like this one, is ``inf`` for every item with
symbols, and its modified one is finite for an item with fewer symbols
than frames.)
"""

from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from rnnt_ops.rnnt_loss import (
    _rnnt_loss as _rnnt_loss_impl,
    _rnnt_loss_pruned as _rnnt_loss_pruned_impl,
    _rnnt_loss_simple as _rnnt_loss_simple_impl,
    _rnnt_loss_smoothed as _rnnt_loss_smoothed_impl,
    do_rnnt_pruning as _do_rnnt_pruning_impl,
    get_rnnt_logprobs as _get_rnnt_logprobs_impl,
    get_rnnt_logprobs_joint as _get_rnnt_logprobs_joint_impl,
    get_rnnt_logprobs_pruned as _get_rnnt_logprobs_pruned_impl,
    get_rnnt_logprobs_smoothed as _get_rnnt_logprobs_smoothed_impl,
    get_rnnt_prune_ranges as _get_rnnt_prune_ranges_impl,
)
from rnnt_ops._build import with_cuda
from rnnt_ops.mutual_information import (
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
    "joint_mutual_information_recursion",
    "mutual_information_recursion",
    "rnnt_loss",
    "rnnt_loss_pruned",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
    "with_cuda",
]

LossOut = Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]


def get_rnnt_logprobs(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    rnnt_type: str = "regular",
    boundary: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """fast_rnnt.get_rnnt_logprobs: (px, py) of ``log_softmax(am + lm)``."""
    return _get_rnnt_logprobs_impl(lm, am, symbols, termination_symbol, rnnt_type, boundary)


def rnnt_loss_simple(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    return_grad: bool = False,
) -> LossOut:
    """fast_rnnt.rnnt_loss_simple: :func:`rnnt_ops.rnnt_loss_simple`."""
    return _rnnt_loss_simple_impl(lm, am, symbols, termination_symbol, boundary, rnnt_type,
                                   delay_penalty, reduction, return_grad)


def get_rnnt_logprobs_joint(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
) -> Tuple[Tensor, Tensor]:
    """fast_rnnt.get_rnnt_logprobs_joint (``boundary`` before ``rnnt_type``)."""
    return _get_rnnt_logprobs_joint_impl(logits, symbols, termination_symbol, boundary, rnnt_type)


def rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    return_grad: bool = False,
) -> LossOut:
    """fast_rnnt.rnnt_loss: :func:`rnnt_ops.rnnt_loss`; ``return_grad`` gives
    the occupation grads of the full lattice's px and py."""
    return _rnnt_loss_impl(logits, symbols, termination_symbol, boundary, rnnt_type,
                            delay_penalty, reduction, return_grad)


def get_rnnt_prune_ranges(
    px_grad: Tensor,
    py_grad: Tensor,
    boundary: Tensor,
    s_range: int,
) -> Tensor:
    """fast_rnnt.get_rnnt_prune_ranges, with fast_rnnt's window rule (see the
    top of this module)."""
    return _peer_prune_ranges(px_grad, py_grad, boundary, s_range)


def _peer_prune_ranges(
    px_grad: Tensor,
    py_grad: Tensor,
    boundary: Optional[Tensor],
    s_range: int,
) -> Tensor:
    """The windows k2 and fast_rnnt choose (they share the rule): as
    :func:`rnnt_ops.get_rnnt_prune_ranges`, except that a modified or
    constrained lattice (``px_grad [B][S][T]``) keeps ``s_range = 1``
    instead of widening it to 2. A regular ``s_range`` below 2 is raised
    as the peers raise it (every item with frames needs at least 2)."""
    S = px_grad.size(1)
    modified = px_grad.dim() == 3 and py_grad.dim() == 3 and px_grad.size(2) == py_grad.size(2)
    if modified and s_range == 1 and S >= 1:
        if boundary is not None:
            boundary = boundary.to(torch.int64)
        # rnnt::_prune_ranges is the window kernel of rnnt::get_rnnt_prune_ranges
        # without its widening; max_step 2: a modified window start grows by
        # at most one symbol per frame.
        return torch.ops.rnnt._prune_ranges(px_grad, py_grad, boundary, 1, 2)
    if not modified and s_range < 2:
        s_range = 2
    return _get_rnnt_prune_ranges_impl(px_grad, py_grad, boundary, s_range)


def do_rnnt_pruning(am: Tensor, lm: Tensor, ranges: Tensor) -> Tuple[Tensor, Tensor]:
    """fast_rnnt.do_rnnt_pruning: ``(am_pruned, lm_pruned)``, each ``[B][T][s_range][C]``."""
    return _do_rnnt_pruning_impl(am, lm, ranges)


def get_rnnt_logprobs_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
) -> Tuple[Tensor, Tensor]:
    """fast_rnnt.get_rnnt_logprobs_pruned: (px, py) of a pruned joiner output."""
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
    return_grad: bool = False,
) -> LossOut:
    """fast_rnnt.rnnt_loss_pruned (``return_grad`` where k2 has ``use_hat_loss``)."""
    return _rnnt_loss_pruned_impl(logits, symbols, ranges, termination_symbol, boundary,
                                   rnnt_type, delay_penalty, reduction, False, return_grad)


def get_rnnt_logprobs_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
) -> Tuple[Tensor, Tensor]:
    """fast_rnnt.get_rnnt_logprobs_smoothed."""
    return _get_rnnt_logprobs_smoothed_impl(lm, am, symbols, termination_symbol, lm_only_scale,
                                            am_only_scale, boundary, rnnt_type)


def rnnt_loss_smoothed(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    lm_only_scale: float = 0.1,
    am_only_scale: float = 0.1,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    return_grad: bool = False,
) -> LossOut:
    """fast_rnnt.rnnt_loss_smoothed."""
    return _rnnt_loss_smoothed_impl(lm, am, symbols, termination_symbol, lm_only_scale,
                                     am_only_scale, boundary, rnnt_type, delay_penalty, reduction,
                                     return_grad)

