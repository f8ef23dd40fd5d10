"""The RNN-T losses and pruning, with k2 / fast_rnnt 1.2 names and
defaults. Their positional order agrees up to ``reduction``; the options
after it differ between k2 and fast_rnnt, so here they are keyword-only
(:mod:`rnnt_ops.k2` and :mod:`rnnt_ops.fast_rnnt` take each peer's exact
positional order). Each function is a thin wrapper over a C++ op in
``torch.ops.rnnt`` (usable from TorchScript and LibTorch too; TorchScript
compiles a positional-or-keyword twin, see rnnt_ops/_script_twin.py).

Shapes: ``lm [B][S+1][C]`` (decoder / "language model" part), ``am [B][T][C]``
(encoder / "acoustic model" part), ``logits [B][T][S+1][C]`` (full joiner
output) or ``[B][T][s_range][C]`` (pruned), ``symbols`` int64 ``[B][S]``,
``boundary`` optional int64 ``[B][4]`` rows ``(s_begin, t_begin, s_end,
t_end)``, default ``(0, 0, S, T)``.

``rnnt_type``: ``"regular"`` (only blank advances a frame; px is
``[B][S][T+1]``), ``"modified"`` (every symbol also advances a frame, at
most one symbol per frame; px is ``[B][S][T]``) or ``"constrained"`` (like
modified, and emitting a symbol also scores the blank that follows it:
``px += py[:, 1:, :]``).

``delay_penalty`` > 0 adds ``delay_penalty * ((t_end - 1) / 2 - t)`` to the
symbol log-probs at frame t (rewarding early emission, FastEmit-like).
``reduction``: ``"none"`` (loss per item, ``[B]``), ``"mean"`` (over the
batch) or ``"sum"``. An item with no alignment (e.g. modified with more
symbols than frames in its boundary) has loss ``inf`` and zero gradients;
``zero_infinity=True`` (as in CTC) makes its loss 0. A NaN in an item's
inputs gives that item a NaN loss (every loss is per item, except the
smoothed loss, whose unigram LM averages over the batch). With ``return_grad=True`` every loss returns
``(loss, (px_grad, py_grad))``: the gradients of the summed per-item scores
w.r.t. px and py (the lattice occupation probabilities), which
:func:`get_rnnt_prune_ranges` needs.

``inplace_grad=True`` (``rnnt_loss``, ``rnnt_loss_pruned``): the backward
writes d loss / d logits over the memory of ``logits`` instead of a new
buffer, saving one logits-sized tensor at the backward's peak (what matters
when C is much larger than the joiner's hidden size). The logits' values
are lost after backward; a leaf ``logits``' ``.grad`` then shares its memory.
Any other autograd node that saved ``logits`` raises at its backward (the
version counter is bumped), so misuse is caught, not silently wrong; a
second backward through the same graph raises likewise. Applies to the
softmax joiner of contiguous logits (ignored with ``use_hat_loss`` or
non-contiguous logits).
"""

from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from rnnt_ops._script_twin import scripts_as

LossOut = Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]


def _with_grad(result: Tuple[Tensor, Tensor, Tensor]) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
    loss, px_grad, py_grad = result
    return loss, (px_grad, py_grad)


def get_rnnt_logprobs(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    rnnt_type: str = "regular",
    boundary: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """(px, py) of the simple joiner ``log_softmax(am[b,t] + lm[b,s])``.

    Args: ``lm [B][S+1][C]``, ``am [B][T][C]`` (float; half types accumulate
    in float32), ``symbols`` int64 ``[B][S]``, ``termination_symbol`` (blank)
    in ``[0, C)``, ``rnnt_type``, ``boundary`` (top of this module; docs/api.md).
    Returns: px ``[B][S][T+1]`` (regular) or ``[B][S][T]``, py ``[B][S+1][T]``."""
    return torch.ops.rnnt.get_rnnt_logprobs(lm, am, symbols, termination_symbol, rnnt_type, boundary)


def _rnnt_loss_simple(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    return_grad: bool = False,
    zero_infinity: bool = False,
) -> LossOut:
    """:func:`rnnt_loss_simple` with every argument positional-or-keyword
    (what TorchScript compiles for it)."""
    args = (lm, am, symbols, termination_symbol, boundary, rnnt_type, delay_penalty, reduction, zero_infinity)
    if return_grad:
        return _with_grad(torch.ops.rnnt.rnnt_loss_simple_with_grad(*args))
    return torch.ops.rnnt.rnnt_loss_simple(*args)


@scripts_as(_rnnt_loss_simple)
def rnnt_loss_simple(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    *,
    return_grad: bool = False,
    zero_infinity: bool = False,
) -> LossOut:
    """RNN-T loss with the simple joiner ``log_softmax(am[b,t] + lm[b,s])``,
    computed without forming ``[B][T][S+1][C]``.

    Args: ``lm [B][S+1][C]``, ``am [B][T][C]``, ``symbols`` int64 ``[B][S]``,
    ``termination_symbol``, then ``boundary``, ``rnnt_type``,
    ``delay_penalty``, ``reduction``, and by keyword ``return_grad``,
    ``zero_infinity``, as described at the top of this module (and in
    docs/api.md).
    Returns: the loss (``[B]`` for ``reduction="none"``, else a scalar), or
    ``(loss, (px_grad, py_grad))`` with ``return_grad=True``."""
    return _rnnt_loss_simple(lm, am, symbols, termination_symbol, boundary, rnnt_type,
                             delay_penalty, reduction, return_grad, zero_infinity)


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
    """(px, py) of the smoothed simple joiner: in log space,
    ``lm_only_scale * lm_only + am_only_scale * am_only
    + (1 - lm_only_scale - am_only_scale) * combined``, where lm_only
    normalises lm alone and am_only combines am with the batch's unigram LM.

    Args: as :func:`get_rnnt_logprobs`, plus the float weights
    ``lm_only_scale`` and ``am_only_scale``.
    Returns: (px, py), shapes as :func:`get_rnnt_logprobs`."""
    return torch.ops.rnnt.get_rnnt_logprobs_smoothed(
        lm, am, symbols, termination_symbol, lm_only_scale, am_only_scale, boundary, rnnt_type
    )


def _rnnt_loss_smoothed(
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
    zero_infinity: bool = False,
) -> LossOut:
    """:func:`rnnt_loss_smoothed` with every argument positional-or-keyword
    (what TorchScript compiles for it)."""
    args = (
        lm, am, symbols, termination_symbol, lm_only_scale, am_only_scale,
        boundary, rnnt_type, delay_penalty, reduction, zero_infinity,
    )
    if return_grad:
        return _with_grad(torch.ops.rnnt.rnnt_loss_smoothed_with_grad(*args))
    return torch.ops.rnnt.rnnt_loss_smoothed(*args)


@scripts_as(_rnnt_loss_smoothed)
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
    *,
    return_grad: bool = False,
    zero_infinity: bool = False,
) -> LossOut:
    """Simple loss on the smoothed log-probs of :func:`get_rnnt_logprobs_smoothed`.

    Args: as :func:`rnnt_loss_simple`, plus ``lm_only_scale`` and
    ``am_only_scale``. Returns: as :func:`rnnt_loss_simple`."""
    return _rnnt_loss_smoothed(lm, am, symbols, termination_symbol, lm_only_scale, am_only_scale,
                               boundary, rnnt_type, delay_penalty, reduction, return_grad,
                               zero_infinity)


def get_rnnt_logprobs_joint(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    inplace_grad: bool = False,
) -> Tuple[Tensor, Tensor]:
    """(px, py) of a full joiner output, without a log-softmax copy of it.

    Args: ``logits [B][T][S+1][C]`` (float), ``symbols`` int64 ``[B][S]``,
    ``termination_symbol``, ``boundary``, ``rnnt_type``, ``inplace_grad``
    (top of this module; docs/api.md).
    Returns: px ``[B][S][T+1]`` (regular) or ``[B][S][T]``, py ``[B][S+1][T]``."""
    return torch.ops.rnnt.get_rnnt_logprobs_joint(
        logits, symbols, termination_symbol, boundary, rnnt_type, inplace_grad
    )


def _rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    return_grad: bool = False,
    zero_infinity: bool = False,
    inplace_grad: bool = False,
    fastemit_lambda: float = 0.0,
) -> LossOut:
    """:func:`rnnt_loss` with every argument positional-or-keyword (what
    TorchScript compiles for it)."""
    args = (
        logits, symbols, termination_symbol, boundary, rnnt_type, delay_penalty, reduction,
        zero_infinity, inplace_grad, fastemit_lambda,
    )
    if return_grad:
        return _with_grad(torch.ops.rnnt.rnnt_loss_with_grad(*args))
    return torch.ops.rnnt.rnnt_loss(*args)


@scripts_as(_rnnt_loss)
def rnnt_loss(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    *,
    return_grad: bool = False,
    zero_infinity: bool = False,
    inplace_grad: bool = False,
    fastemit_lambda: float = 0.0,
) -> LossOut:
    """The full RNN-T loss of a joiner output.

    Args: ``logits [B][T][S+1][C]`` (float16/bfloat16/float32/float64),
    ``symbols`` int64 ``[B][S]``, ``termination_symbol`` (blank) in
    ``[0, C)``, then the options described at the top of this module
    (docs/api.md); those after ``reduction`` by keyword only.
    ``fastemit_lambda``: FastEmit (Yu et al. 2021) as NeMo and warp-rnnt
    apply it: the symbol-emission arcs' gradient is scaled by
    ``1 + fastemit_lambda`` and the reported per-item loss is
    ``(1 + fastemit_lambda) * loss``; not with ``delay_penalty``.
    Returns: the loss (``[B]`` for ``reduction="none"``, else a scalar), or
    ``(loss, (px_grad, py_grad))`` with ``return_grad=True``."""
    return _rnnt_loss(logits, symbols, termination_symbol, boundary, rnnt_type, delay_penalty,
                      reduction, return_grad, zero_infinity, inplace_grad, fastemit_lambda)


def get_rnnt_prune_ranges(
    px_grad: Tensor,
    py_grad: Tensor,
    boundary: Optional[Tensor],
    s_range: int,
) -> Tensor:
    """Per-frame windows of ``s_range`` label positions, int64 ``[B][T][s_range]``,
    from the occupation grads of a simple loss (``return_grad=True``).

    ``ranges[b, t] = s_begin[b, t] + arange(s_range)`` where ``s_begin`` is
    non-decreasing over t, starts at 0, grows by less than ``s_range`` per
    frame (less than 2 for modified/constrained) and ends at
    ``s_end - s_range + 1`` on the item's last frame. A ``s_range`` too
    small for some item to keep a path is raised (warned once) to the batch
    maximum of each item's need, from its boundary row: regular
    ``(s_end - 1) // t_end + 2``; modified/constrained 2 for an item with
    symbols and ``s_end <= t_end`` (a constrained emission also scores the
    next row's blank in its frame's window). It is capped at ``S + 1``. So
    an item whose full loss is finite has a finite pruned loss. A given
    ``boundary`` is read on the host for this (on CUDA, a wait for the
    device, unless a loss call already read the same tensor) and must lie
    in the lattice; in a torch.compile'd graph its values cannot be read
    and the tensor sizes ``(S, T)`` stand in for every row.

    Args: ``px_grad``, ``py_grad`` (shapes of px and py, from the simple
    loss), ``boundary`` optional int64 ``[B][4]``, ``s_range`` int.
    Returns: int64 ``ranges [B][T][s_range]``."""
    return torch.ops.rnnt.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)


def do_rnnt_pruning(am: Tensor, lm: Tensor, ranges: Tensor) -> Tuple[Tensor, Tensor]:
    """``am [B][T][C]`` and ``lm [B][S+1][C]`` (any feature size C, the same
    for both) inside the windows ``ranges`` (int64 ``[B][T][s_range]``, from
    :func:`get_rnnt_prune_ranges`). Returns ``(am_pruned, lm_pruned)``, each
    ``[B][T][s_range][C]`` (am_pruned is an expanded view)."""
    return torch.ops.rnnt.do_rnnt_pruning(am, lm, ranges)


def get_rnnt_logprobs_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    use_hat_loss: bool = False,
) -> Tuple[Tensor, Tensor]:
    """(px, py) of a pruned joiner output; lattice nodes outside the windows
    get -inf.

    Args: ``logits [B][T][s_range][C]``, ``symbols`` int64 ``[B][S]``,
    ``ranges`` int64 ``[B][T][s_range]``, ``termination_symbol``,
    ``boundary``, ``rnnt_type``, ``use_hat_loss`` (see :func:`rnnt_loss_pruned`).
    Returns: px ``[B][S][T+1]`` (regular) or ``[B][S][T]``, py ``[B][S+1][T]``."""
    return torch.ops.rnnt.get_rnnt_logprobs_pruned(
        logits, symbols, ranges, termination_symbol, boundary, rnnt_type, use_hat_loss
    )


def _rnnt_loss_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    use_hat_loss: bool = False,
    return_grad: bool = False,
    zero_infinity: bool = False,
    inplace_grad: bool = False,
    fastemit_lambda: float = 0.0,
) -> LossOut:
    """:func:`rnnt_loss_pruned` with every argument positional-or-keyword
    (what TorchScript compiles for it)."""
    args = (
        logits, symbols, ranges, termination_symbol, boundary, rnnt_type,
        delay_penalty, reduction, use_hat_loss, zero_infinity, inplace_grad, fastemit_lambda,
    )
    if return_grad:
        return _with_grad(torch.ops.rnnt.rnnt_loss_pruned_with_grad(*args))
    return torch.ops.rnnt.rnnt_loss_pruned(*args)


@scripts_as(_rnnt_loss_pruned)
def rnnt_loss_pruned(
    logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    *,
    use_hat_loss: bool = False,
    return_grad: bool = False,
    zero_infinity: bool = False,
    inplace_grad: bool = False,
    fastemit_lambda: float = 0.0,
) -> LossOut:
    """RNN-T loss on a pruned joiner output ``logits [B][T][s_range][C]``
    (windows from :func:`get_rnnt_prune_ranges`). ``use_hat_loss=True``: HAT
    factorisation (blank probability ``sigmoid(logits[..., 0])``, labels a
    softmax over ``logits[..., 1:]``); needs ``termination_symbol == 0``.

    Args: ``logits [B][T][s_range][C]``, ``symbols`` int64 ``[B][S]``,
    ``ranges`` int64 ``[B][T][s_range]``, ``termination_symbol``, then the
    options described at the top of this module (docs/api.md), those after
    ``reduction`` by keyword only (k2 puts ``use_hat_loss`` there,
    fast_rnnt ``return_grad``: :mod:`rnnt_ops.k2` and
    :mod:`rnnt_ops.fast_rnnt` take each one's positional order);
    ``fastemit_lambda`` as in :func:`rnnt_loss`.
    Returns: the loss (``[B]`` for ``reduction="none"``, else a scalar), or
    ``(loss, (px_grad, py_grad))`` with ``return_grad=True``."""
    return _rnnt_loss_pruned(logits, symbols, ranges, termination_symbol, boundary, rnnt_type,
                             delay_penalty, reduction, use_hat_loss, return_grad, zero_infinity,
                             inplace_grad, fastemit_lambda)
