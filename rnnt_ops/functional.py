"""The RNN-T loss with torchaudio's call: ``rnnt_loss(logits, targets,
logit_lengths, target_lengths, blank=-1, clamp=-1, reduction="mean",
fused_log_softmax=True)``, so torchaudio code switches with a change of
import. The same C++ ops as :func:`rnnt_ops.rnnt_loss` run underneath; the
lengths become ``boundary = (0, 0, target_lengths, logit_lengths)``
(:func:`rnnt_ops.boundary_from_lengths`).
"""

from typing import List, Optional

import torch
from torch import Tensor

from rnnt_ops.lengths import (
    boundary_from_lengths,
    check_on_device,
    checked_lengths,
    is_index_dtype,
    require_tensor,
)

def rnnt_loss(
    logits: Tensor,
    targets: Tensor,
    logit_lengths: Tensor,
    target_lengths: Tensor,
    blank: int = -1,
    clamp: float = -1.0,
    reduction: str = "mean",
    fused_log_softmax: bool = True,
    fastemit_lambda: float = 0.0,
) -> Tensor:
    """RNN-T loss of a padded batch (Graves 2012), torchaudio semantics.

    Args:
      logits: ``[B][T][U+1][C]`` joiner output (float16, bfloat16, float32 or
        float64); ``U`` is the longest target.
      targets: int32 or int64 ``[B][U]``, padded; values past an item's
        length are never read.
      logit_lengths: int32 or int64 ``[B]``, frames of each item (<= T).
      target_lengths: int32 or int64 ``[B]``, symbols of each item (<= U).
      blank: the blank's index in C; negative counts from the end (-1 is
        the last class).
      clamp: when > 0, each element of every item's gradient
        ``d loss_b / d logits[b]`` is clipped to ``[-clamp, clamp]`` before
        the reduction scales it (as torchaudio; it costs a logits-sized
        gradient buffer computed in the forward).
      reduction: ``"none"`` (per-item losses ``[B]``), ``"mean"`` (their mean
        over the batch) or ``"sum"``.
      fused_log_softmax: True normalises ``logits`` over C inside the loss;
        False takes ``logits`` as log-probabilities already (e.g. from an
        explicit ``log_softmax``) and uses them as they are.
      fastemit_lambda: FastEmit (Yu et al. 2021) regularisation: when > 0
        the gradient through every label-emission log-probability is scaled
        by ``1 + fastemit_lambda`` (blank terms unchanged), and the reported
        loss is ``(1 + fastemit_lambda) * loss``, as NeMo and warp-rnnt
        report it (the rule of every loss here). Not in torchaudio; 0
        disables it.

    Returns:
      The loss: ``[B]`` for ``reduction="none"``, else a scalar. An item with
      no alignment has loss ``inf``.
    """
    function = "rnnt_ops.functional.rnnt_loss"  # TorchScript takes no global str
    require_tensor(logits, "logits", function)
    require_tensor(targets, "targets", function)
    if logits.dim() != 4:
        raise RuntimeError(f"{function}: logits must be 4-D [B][T][U+1][C], got {logits.dim()}-D")
    if reduction not in ["none", "mean", "sum"]:
        raise ValueError(f"{function}: reduction must be 'none', 'mean' or 'sum', got '{reduction}'")
    if fastemit_lambda < 0.0:
        raise ValueError(f"{function}: fastemit_lambda must be >= 0, got {fastemit_lambda}")
    num_classes = logits.size(3)
    blank_index = blank + num_classes if blank < 0 else blank
    if blank_index < 0 or blank_index >= num_classes:
        raise ValueError(
            f"{function}: blank must be in [-C, C) with C = {num_classes} classes, got {blank}"
        )
    if targets.dim() != 2 or not is_index_dtype(targets):
        raise RuntimeError(
            f"{function}: targets must be a 2-D int32 or int64 tensor [B][U], "
            f"got a {targets.dim()}-D {targets.dtype} tensor"
        )
    check_on_device(targets, "targets", logits, "logits", function)
    require_tensor(logit_lengths, "logit_lengths", function)
    require_tensor(target_lengths, "target_lengths", function)
    check_on_device(logit_lengths, "logit_lengths", logits, "logits", function)
    check_on_device(target_lengths, "target_lengths", logits, "logits", function)
    boundary = boundary_from_lengths(
        checked_lengths(logit_lengths, logits.size(1), "logit_lengths", function),
        checked_lengths(target_lengths, targets.size(1), "target_lengths", function))
    # Padding past an item's length may hold anything (-1, an ignore index):
    # the loss never reads it, but the op checks every symbol, so the blank
    # stands in for it.
    positions = torch.arange(targets.size(1), device=targets.device).unsqueeze(0)
    padded = positions >= boundary[:, 2:3].to(targets.device)
    symbols = torch.ops.rnnt._checked_index(
        targets.to(torch.int64).masked_fill(padded, blank_index), num_classes,
        "targets (within target_lengths)", function)
    if clamp <= 0.0 and fused_log_softmax and fastemit_lambda == 0.0:
        loss = torch.ops.rnnt.rnnt_loss(
            logits, symbols, blank_index, boundary, "regular", 0.0, reduction, False, False
        )
        return loss.to(logits.dtype)  # as torchaudio: the loss in the logits' dtype
    if clamp > 0.0 and logits.requires_grad and torch.is_grad_enabled():
        costs = _clamped_costs(
            logits, symbols, blank_index, boundary, fused_log_softmax, fastemit_lambda, clamp
        )
    else:
        costs = _costs(logits, symbols, blank_index, boundary, fused_log_softmax, fastemit_lambda)
    if reduction == "mean":
        costs = costs.mean()
    elif reduction == "sum":
        costs = costs.sum()
    return costs.to(logits.dtype)


def _costs(
    logits: Tensor,
    symbols: Tensor,
    blank: int,
    boundary: Tensor,
    fused_log_softmax: bool,
    fastemit_lambda: float,
) -> Tensor:
    """Per-item losses ``[B]``."""
    if fused_log_softmax:
        px, py = torch.ops.rnnt.get_rnnt_logprobs_joint(
            logits, symbols, blank, boundary, "regular", False
        )
    else:
        px, py = _given_logprobs(logits, symbols, blank, boundary)
    if fastemit_lambda != 0.0:
        px = torch.ops.rnnt._scale_emission_grad(px, fastemit_lambda)
    costs = -torch.ops.rnnt.mutual_information(px, py, boundary)
    # FastEmit's reported value: (1 + lambda) * loss, the gradient unchanged.
    return costs + costs.detach() * fastemit_lambda


def _given_logprobs(logits: Tensor, symbols: Tensor, blank: int, boundary: Tensor):
    """(px ``[B][S][T+1]``, py ``[B][S+1][T]``) read from log-probabilities as
    they are: px[b, s, t] = logits[b, t, s, symbols[b, s]], py[b, s, t] =
    logits[b, t, s, blank]. A symbol cannot be emitted at t = t_end (the
    item's last node is reached by a blank), so px there is -inf."""
    B, T, U1, C = logits.shape
    if logits.dtype == torch.float16 or logits.dtype == torch.bfloat16:
        logits = logits.float()
    rows = logits.narrow(2, 0, U1 - 1)
    px = rows.gather(3, symbols.view(B, 1, U1 - 1, 1).expand(B, T, U1 - 1, 1)).squeeze(3)
    px = torch.cat([px.transpose(1, 2), px.new_full((B, U1 - 1, 1), float("-inf"))], dim=2)
    frames = torch.arange(T + 1, device=px.device).view(1, 1, T + 1)
    px = px.masked_fill(
        frames >= boundary[:, 3].to(px.device).view(B, 1, 1), float("-inf")
    )
    py = logits.select(3, blank).transpose(1, 2)
    return px, py


def _clamped_costs(
    logits: Tensor,
    symbols: Tensor,
    blank: int,
    boundary: Tensor,
    fused_log_softmax: bool,
    fastemit_lambda: float,
    clamp: float,
) -> Tensor:
    """Per-item losses whose gradient w.r.t. ``logits`` is
    ``grad_out[b] * clip(d loss_b / d logits[b], -clamp, clamp)``: the
    per-item gradient is computed here (items are independent, so the
    gradient of the sum is every item's own), clipped, and attached through
    ``costs + (linear - linear.detach())`` with ``linear[b] = sum(logits[b] *
    clipped[b])``, which adds exactly 0 to the value."""
    # Called with grad mode on (the caller checks).
    inner = logits.detach().requires_grad_()
    costs = _costs(inner, symbols, blank, boundary, fused_log_softmax, fastemit_lambda)
    grads: List[Optional[Tensor]] = torch.autograd.grad([costs.sum()], [inner])
    grad = grads[0]
    assert grad is not None
    clipped = grad.clamp(-clamp, clamp).to(logits.dtype)
    # Entries with zero gradient are left out so that a -inf log-prob
    # (fused_log_softmax=False) cannot turn the sum into NaN.
    products = torch.where(clipped != 0, logits * clipped, torch.zeros_like(clipped))
    linear = products.flatten(1).sum(1).to(costs.dtype)
    return costs.detach() + (linear - linear.detach())


class RNNTLoss(torch.nn.Module):
    """Module form of :func:`rnnt_loss` (as ``torchaudio.transforms.RNNTLoss``):
    ``RNNTLoss(blank=-1, clamp=-1.0, reduction="mean",
    fused_log_softmax=True)(logits, targets, logit_lengths,
    target_lengths)``."""

    def __init__(
        self,
        blank: int = -1,
        clamp: float = -1.0,
        reduction: str = "mean",
        fused_log_softmax: bool = True,
        fastemit_lambda: float = 0.0,
    ):
        super().__init__()
        self.blank = blank
        self.clamp = float(clamp)
        self.reduction = reduction
        self.fused_log_softmax = fused_log_softmax
        self.fastemit_lambda = float(fastemit_lambda)

    def forward(
        self, logits: Tensor, targets: Tensor, logit_lengths: Tensor, target_lengths: Tensor
    ) -> Tensor:
        return rnnt_loss(
            logits,
            targets,
            logit_lengths,
            target_lengths,
            self.blank,
            self.clamp,
            self.reduction,
            self.fused_log_softmax,
            self.fastemit_lambda,
        )
