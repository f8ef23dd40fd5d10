"""NeMo's RNN-T loss wrapper on rnnt_ops' kernels: ``from rnnt_ops.nemo import
RNNTLoss`` stands in for ``nemo.collections.asr.losses.rnnt.RNNTLoss``.

``RNNTLoss(num_classes, reduction="mean_batch", loss_name="default",
loss_kwargs=None)`` and ``forward(log_probs, targets, input_lengths,
target_lengths)`` take NeMo's arguments and keywords. As in NeMo, the blank
is ``num_classes`` (the last label class), ``log_probs`` are the joiner's raw
logits ``[B][T][U+1][C]`` (every loss normalises them itself; TDT's last D
entries are the duration logits), the inner loss runs without reduction and
the wrapper reduces: 'mean_batch' (batch mean), 'mean' (each loss over its
target length, then batch mean), 'mean_volume' (sum over the summed target
lengths), 'sum', or None (per-item losses). Like NeMo, ``forward`` first
narrows ``log_probs`` to the longest input and ``targets`` to the longest
target.

``loss_name`` resolves as NeMo resolves it, ``loss_kwargs`` with NeMo's
keys (others are ignored with a warning, as NeMo does):

- "default", "warprnnt_numba": RNN-T (:class:`RNNTLossNumba`),
  ``fastemit_lambda``, ``clamp``;
- "warprnnt", "pytorch": RNN-T without options;
- "tdt": TDT (:class:`rnnt_ops.TDTLoss`), ``durations``,
  ``fastemit_lambda``, ``clamp``, ``sigma``, ``omega``;
- "tdt_pytorch": TDT, ``durations``, ``sigma``;
- "multiblank_rnnt": multi-blank (:class:`rnnt_ops.MultiBlankRNNTLoss`),
  ``big_blank_durations``, ``clamp``, ``sigma`` (``fastemit_lambda``
  must be 0: not implemented for multi-blank);
- "multiblank_rnnt_pytorch": multi-blank, ``big_blank_durations``, ``sigma``.

The k2-based "graph_rnnt" and "graph_w_transducer" are not provided.

FastEmit is reported as NeMo reports it: the loss is ``(1 + lambda) *
loss`` and the symbol arcs' gradient is scaled by ``1 + lambda``. ``clamp >
0`` clips each item's gradient of the logits to ``[-clamp, clamp]`` before
the reduction scales it (NeMo's CUDA kernels; TDT: label logits only).
Differences from NeMo: half inputs are not cast to float32 first (the
kernels accumulate in float32 and give a float32 loss) and float64 inputs
are computed in float64; TDT and multi-blank run on the CPU too; TDT's
``omega`` is applied as its expectation ``(1 - omega) * TDT + omega *
RNN-T`` where NeMo draws one of the two per call.
"""

import warnings
from typing import Any, Dict, Optional

import torch
from torch import Tensor

from rnnt_ops.lengths import check_on_device

from rnnt_ops.tdt import (
    MultiBlankRNNTLoss,
    TDTLoss,
    _nemo_inputs,
    _nemo_names,
    _nemo_reduce,
    _nemo_reduction,
    _needs_grad_hook,
    _with_item_grads,
)

__all__ = ["MultiBlankRNNTLoss", "RNNTLoss", "RNNTLossNumba", "TDTLoss", "resolve_rnnt_loss"]


class RNNTLossNumba(torch.nn.Module):
    """The RNN-T loss with NeMo's inner-loss interface (``RNNTLossNumba(
    blank=0, reduction='mean', fastemit_lambda=0.0, clamp=-1)``,
    ``forward(acts, labels, act_lens, label_lens)``): ``acts [B][T][U+1][C]``
    raw joiner logits (normalised here), blank at ``blank``. ``reduction``
    takes NeMo's RNNTLoss names as :class:`rnnt_ops.TDTLoss` does
    ('mean' is each loss over its label length; NeMo's numba module's own
    'mean' is the batch mean, 'mean_batch' here), None is 'none'.
    ``fastemit_lambda`` and ``clamp`` as at the top of this module."""

    reduction: Optional[str]

    def __init__(self, blank: int = 0, reduction: Optional[str] = "mean_batch",
                 fastemit_lambda: float = 0.0, clamp: float = -1.0):
        super().__init__()
        self.blank = int(blank)
        self.names = _nemo_names("RNNTLossNumba")
        self.reduction = _nemo_reduction(reduction, "RNNTLossNumba")
        if fastemit_lambda < 0:
            raise ValueError(f"RNNTLossNumba: fastemit_lambda must be >= 0, got {fastemit_lambda}")
        self.fastemit_lambda = float(fastemit_lambda)
        self.clamp = float(clamp)

    def forward(self, acts: Tensor, labels: Tensor, act_lens: Tensor, label_lens: Tensor) -> Tensor:
        symbols, boundary = _nemo_inputs(self.names, acts, labels, act_lens, label_lens)
        if _needs_grad_hook(acts, self.clamp):
            leaf = acts.detach().requires_grad_()
            losses = torch.ops.rnnt.rnnt_loss(leaf, symbols, self.blank, boundary, "regular", 0.0,
                                              "none", False, False, self.fastemit_lambda)
            losses = _with_item_grads(losses, [leaf], [acts], [self.clamp])
        else:
            losses = torch.ops.rnnt.rnnt_loss(acts, symbols, self.blank, boundary, "regular", 0.0,
                                              "none", False, False, self.fastemit_lambda)
        return _nemo_reduce(losses, label_lens, self.reduction)


# NeMo's loss names (nemo/collections/asr/losses/rnnt.py, RNNT_LOSS_RESOLVER)
# and the loss_kwargs each one reads.
_LOSS_KWARGS = {
    "warprnnt_numba": ("fastemit_lambda", "clamp"),
    "warprnnt": (),
    "pytorch": (),
    "tdt": ("durations", "fastemit_lambda", "clamp", "sigma", "omega"),
    "tdt_pytorch": ("durations", "sigma"),
    "multiblank_rnnt": ("big_blank_durations", "fastemit_lambda", "clamp", "sigma"),
    "multiblank_rnnt_pytorch": ("big_blank_durations", "sigma"),
}
_NOT_PROVIDED = ("graph_rnnt", "graph_w_transducer")


def resolve_rnnt_loss(loss_name: str, blank_idx: int,
                      loss_kwargs: Optional[Dict[str, Any]] = None) -> torch.nn.Module:
    """NeMo's ``resolve_rnnt_loss``: the inner loss module for ``loss_name``
    with blank ``blank_idx`` and no reduction, configured from
    ``loss_kwargs`` (keys a loss does not read are ignored with a warning)."""
    name = "warprnnt_numba" if loss_name == "default" else loss_name
    if name not in _LOSS_KWARGS:
        known = ["default"] + list(_LOSS_KWARGS)
        if name in _NOT_PROVIDED:
            raise ValueError(f"RNNTLoss: loss_name {loss_name!r} (NeMo's k2 graph loss) is not "
                             f"provided by rnnt_ops; use one of {known}")
        raise ValueError(f"RNNTLoss: loss_name must be one of {known}, got {loss_name!r}")
    kwargs = dict(loss_kwargs or {})
    used = {key: kwargs.pop(key) for key in _LOSS_KWARGS[name] if key in kwargs}
    if kwargs:
        warnings.warn(f"RNNTLoss: loss {loss_name!r} ignores the loss_kwargs {sorted(kwargs)}",
                      stacklevel=3)
    if name in ("warprnnt_numba", "warprnnt", "pytorch"):
        return RNNTLossNumba(blank=blank_idx, reduction=None,
                             fastemit_lambda=used.get("fastemit_lambda", 0.0),
                             clamp=used.get("clamp", -1.0))
    if name in ("tdt", "tdt_pytorch"):
        return TDTLoss(blank=blank_idx, durations=used.get("durations"), reduction=None,
                       fastemit_lambda=used.get("fastemit_lambda", 0.0),
                       clamp=used.get("clamp", -1.0), sigma=used.get("sigma", 0.0),
                       omega=used.get("omega", 0.0))
    return MultiBlankRNNTLoss(blank=blank_idx,
                              big_blank_durations=used.get("big_blank_durations"),
                              reduction=None, fastemit_lambda=used.get("fastemit_lambda", 0.0),
                              clamp=used.get("clamp", -1.0), sigma=used.get("sigma", 0.0))


def _longest(lengths: Tensor, most: int, name: str, what: str, module: str) -> int:
    """The largest of ``lengths`` (one host read), checked to lie in [0, most]."""
    bounds = torch.stack([lengths.min(), lengths.max()]).cpu()
    low, high = int(bounds[0]), int(bounds[1])
    if low < 0 or high > most:
        raise ValueError(f"{module}: {name} must lie in [0, {what} = {most}], got values in "
                         f"[{low}, {high}]")
    return high


class RNNTLoss(torch.nn.Module):
    """NeMo's ``RNNTLoss(num_classes, reduction='mean_batch',
    loss_name='default', loss_kwargs=None)`` (see the top of this module).
    ``forward(log_probs, targets, input_lengths, target_lengths)``."""

    reduction: Optional[str]

    def __init__(self, num_classes: int, reduction: Optional[str] = "mean_batch",
                 loss_name: str = "default", loss_kwargs: Optional[Dict[str, Any]] = None):
        super().__init__()
        if reduction is not None and reduction not in ("mean", "sum", "mean_batch", "mean_volume"):
            raise ValueError("RNNTLoss: reduction must be one of 'mean', 'sum', 'mean_batch', "
                             f"'mean_volume' or None, got {reduction!r}")
        self._blank = int(num_classes)
        self.reduction = reduction
        self._loss = resolve_rnnt_loss(loss_name, self._blank, loss_kwargs)
        self._loss.names = ["rnnt_ops.nemo.RNNTLoss", "log_probs", "targets", "input_lengths",
                            "target_lengths"]

    def reduce(self, losses: Tensor, target_lengths: Tensor) -> Tensor:
        """NeMo's RNNTLoss.reduce: the configured reduction of per-item losses."""
        return _nemo_reduce(losses, target_lengths, self.reduction)

    def forward(self, log_probs: Tensor, targets: Tensor, input_lengths: Tensor,
                target_lengths: Tensor) -> Tensor:
        module = "rnnt_ops.nemo.RNNTLoss"
        if log_probs.dim() != 4:
            raise RuntimeError(
                f"{module}: log_probs must be 4-D [B][T][U+1][V+1], got {log_probs.dim()}-D")
        for name, t in (("targets", targets), ("input_lengths", input_lengths),
                        ("target_lengths", target_lengths)):
            check_on_device(t, name, log_probs, "log_probs", module)
        targets = targets.long()
        input_lengths = input_lengths.long()
        target_lengths = target_lengths.long()
        # As NeMo: padding beyond the longest input / target is cut off
        # (downsampling may leave log_probs a frame or two longer). The
        # lengths are read on the host for it, and checked on the way.
        if input_lengths.numel() > 0 and log_probs.device.type != "meta":
            max_logit_len = _longest(input_lengths, log_probs.size(1), "input_lengths", "T",
                                     module)
            max_targets_len = _longest(target_lengths, targets.size(1), "target_lengths",
                                       "targets.size(1)", module)
            if log_probs.size(1) != max_logit_len:
                log_probs = log_probs.narrow(1, 0, max_logit_len)
            if targets.size(1) != max_targets_len:
                targets = targets.narrow(1, 0, max_targets_len)
        losses = self._loss(log_probs, targets, input_lengths, target_lengths)
        return self.reduce(losses, target_lengths)

