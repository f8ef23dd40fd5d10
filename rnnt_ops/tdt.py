"""Token-and-duration (TDT) and multi-blank transducer losses.

Lattice (per item with T frames and U symbols, nodes (t, u), 0 <= t < T,
0 <= u <= U): from (t, u) a blank with duration d >= 1 goes to (t + d, u),
the next symbol with duration d goes to (t + d, u + 1) and must land on a
frame < T; a path ends with a blank landing exactly on t = T at u = U. An
arc's weight is its label log-prob ``log_softmax(logits)[c] - sigma`` plus,
for TDT, its duration log-prob ``log_softmax(duration_logits)[i]``. The
loss is ``-log`` of the sum over all paths (Xu et al., "Efficient Sequence
Transduction by Jointly Predicting Tokens and Durations", ICML 2023; Xu et
al., "Multi-blank Transducers for Speech Recognition", 2022).
"""

from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor


def rnnt_loss_tdt(
    logits: Tensor,
    duration_logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    durations: List[int],
    boundary: Optional[Tensor] = None,
    sigma: float = 0.0,
    omega: float = 0.0,
    fastemit_lambda: float = 0.0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """The TDT loss of label ``logits [B][T][S+1][C]`` (blank
    ``termination_symbol``) and ``duration_logits [B][T][S+1][D]`` for the D
    distinct non-negative ``durations`` (at least one >= 1; NeMo's default
    ``[0, 1, 2, 3, 4]``). ``symbols``: int64 ``[B][S]``; ``boundary``: int64
    ``[B][4]`` rows ``(0, 0, U_b, T_b)`` (default ``(0, 0, S, T)``).

    ``sigma``: logit under-normalisation (label log-probs minus sigma).
    ``omega``: the loss is ``(1 - omega) * TDT + omega * RNN-T`` with the
    regular RNN-T loss of ``logits`` alone (no sigma); NeMo picks one of the
    two at random with probability omega per call, this is its expectation.
    ``fastemit_lambda``: FastEmit (Yu et al., 2021) as NeMo applies it to
    TDT: the gradient of the symbol arcs' label log-probs is scaled by
    ``1 + lambda`` (durations unscaled) and the reported per-item loss is
    ``(1 + lambda) * -log P``, as NeMo and warp-rnnt report it.
    Items without a path get loss inf and zero gradients (0 with
    ``zero_infinity``). ``reduction``: 'mean' | 'sum' | 'none'."""
    return torch.ops.rnnt.rnnt_loss_tdt(
        logits, duration_logits, symbols, termination_symbol, durations, boundary, sigma, omega,
        fastemit_lambda, reduction, zero_infinity,
    )


def rnnt_loss_multiblank(
    logits: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    big_blank_ids: List[int],
    big_blank_durations: List[int],
    boundary: Optional[Tensor] = None,
    sigma: float = 0.0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """The multi-blank transducer loss of ``logits [B][T][S+1][C]``: the
    standard blank ``termination_symbol`` advances one frame, big blank
    ``big_blank_ids[i]`` advances ``big_blank_durations[i] >= 2`` frames, a
    symbol none. Paths end with any blank landing exactly on frame T.
    ``sigma``, ``boundary``, ``reduction`` and ``zero_infinity`` as in
    :func:`rnnt_loss_tdt`."""
    return torch.ops.rnnt.rnnt_loss_multiblank(
        logits, symbols, termination_symbol, big_blank_ids, big_blank_durations, boundary, sigma,
        reduction, zero_infinity,
    )


def rnnt_loss_tdt_simple(
    lm: Tensor,
    am: Tensor,
    lm_duration: Tensor,
    am_duration: Tensor,
    symbols: Tensor,
    termination_symbol: int,
    durations: List[int],
    boundary: Optional[Tensor] = None,
    sigma: float = 0.0,
    omega: float = 0.0,
    reduction: str = "mean",
    return_grad: bool = False,
    zero_infinity: bool = False,
) -> Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]:
    """The "simple" TDT loss, the first step of :func:`rnnt_loss_tdt_pruned`:
    the TDT loss of the joiners ``lm + am`` (label logits, ``lm [B][S+1][C]``,
    ``am [B][T][C]``, normalised as in :func:`rnnt_loss_simple`, never
    expanded to ``[B][T][S+1][C]``) and ``lm_duration + am_duration``
    (duration logits, ``lm_duration [B][S+1][D]``, ``am_duration
    [B][T][D]``). Equals :func:`rnnt_loss_tdt` on ``logits = am[:, :, None]
    + lm[:, None]`` and ``duration_logits = am_duration[:, :, None] +
    lm_duration[:, None]``. ``sigma``, ``omega`` (its RNN-T term is
    :func:`rnnt_loss_simple`'s), ``reduction``, ``zero_infinity`` as in
    :func:`rnnt_loss_tdt`; ``boundary`` rows ``(0, 0, U_b, T_b)``.

    With ``return_grad=True`` returns ``(loss, (px_grad, py_grad))``: the
    occupation probabilities of the symbol arcs (``[B][S][T+1]``) and blank
    arcs (``[B][S+1][T]``) leaving each node, all durations summed (the
    TDT term only), in the layout :func:`get_rnnt_prune_ranges` takes."""
    args = (lm, am, lm_duration, am_duration, symbols, termination_symbol, durations, boundary,
            sigma, omega, reduction, zero_infinity)
    if return_grad:
        loss, px_grad, py_grad = torch.ops.rnnt.rnnt_loss_tdt_simple_with_grad(*args)
        return loss, (px_grad, py_grad)
    return torch.ops.rnnt.rnnt_loss_tdt_simple(*args)


def rnnt_loss_tdt_pruned(
    logits: Tensor,
    duration_logits: Tensor,
    symbols: Tensor,
    ranges: Tensor,
    termination_symbol: int,
    durations: List[int],
    boundary: Optional[Tensor] = None,
    sigma: float = 0.0,
    omega: float = 0.0,
    fastemit_lambda: float = 0.0,
    reduction: str = "mean",
    zero_infinity: bool = False,
    inplace_grad: bool = False,
) -> Tensor:
    """The TDT loss inside the windows ``ranges [B][T][s_range]`` (from
    :func:`get_rnnt_prune_ranges` on :func:`rnnt_loss_tdt_simple`'s
    grads): ``logits [B][T][s_range][C]`` and ``duration_logits
    [B][T][s_range][D]`` of the joiner on :func:`do_rnnt_pruning`'s
    outputs. Lattice nodes outside the windows have no outgoing arc: an arc
    landing outside its destination frame's window is dropped. With
    ``s_range = S + 1`` (full windows) it equals :func:`rnnt_loss_tdt`.
    ``sigma``, ``omega`` (its RNN-T term is :func:`rnnt_loss_pruned`'s),
    ``fastemit_lambda``, ``reduction``, ``zero_infinity`` as in
    :func:`rnnt_loss_tdt`; ``inplace_grad`` as in :func:`rnnt_loss_pruned`.
    A path survives whenever ``durations`` holds 0 and 1 (see docs/api.md,
    "Pruned TDT"); an item left without one has loss inf."""
    return torch.ops.rnnt.rnnt_loss_tdt_pruned(
        logits, duration_logits, symbols, ranges, termination_symbol, durations, boundary, sigma,
        omega, fastemit_lambda, reduction, zero_infinity, inplace_grad,
    )


_NEMO_REDUCTIONS = ("none", "sum", "mean_batch", "mean", "mean_volume")


def _nemo_reduce(losses: Tensor, label_lens: Tensor, reduction: str) -> Tensor:
    """NeMo's RNNTLoss reductions: 'mean_batch' (batch mean), 'mean' (each
    loss over its label length, then batch mean), 'mean_volume' (sum over
    the sum of label lengths), 'sum', 'none'."""
    if reduction == "mean_batch":
        return losses.mean()
    if reduction == "mean":
        return (losses / label_lens.to(losses.dtype)).mean()
    if reduction == "mean_volume":
        return losses.sum() / label_lens.sum().to(losses.dtype)
    if reduction == "sum":
        return losses.sum()
    return losses


class _ClampGrad(torch.autograd.Function):
    """Identity whose backward clamps the gradient to [-clamp, clamp]."""

    @staticmethod
    def forward(ctx, x: Tensor, clamp: float) -> Tensor:
        ctx.clamp = clamp
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad.clamp(-ctx.clamp, ctx.clamp), None


def _nemo_inputs(acts: Tensor, labels: Tensor, act_lens: Tensor, label_lens: Tensor,
                 clamp: float):
    if clamp > 0:
        acts = _ClampGrad.apply(acts, clamp)
    S = acts.shape[2] - 1
    symbols = labels[:, :S].long()
    if symbols.shape[1] < S:  # labels narrower than the lattice: pad (never read)
        symbols = torch.nn.functional.pad(symbols, (0, S - symbols.shape[1]))
    zeros = torch.zeros_like(act_lens, dtype=torch.long)
    boundary = torch.stack([zeros, zeros, label_lens.long(), act_lens.long()], 1)
    return acts, symbols, boundary


class TDTLoss(torch.nn.Module):
    """NeMo-compatible TDT loss module (``TDTLossNumba`` / ``RNNTLoss(
    loss_name='tdt')`` inputs). ``forward(acts, labels, act_lens,
    label_lens)``: ``acts [B][T][U+1][V+1+D]`` joiner output with the label
    logits first (blank at ``blank_idx``; NeMo's ``RNNTLoss(num_classes=V)``
    uses ``blank_idx = V``) and the D duration logits last; ``labels [B][U]``;
    ``act_lens``, ``label_lens`` ``[B]``. ``reduction``: NeMo's names
    ('mean_batch', 'mean', 'mean_volume', 'sum', 'none'). ``clamp > 0``
    clamps the gradient of ``acts``. ``omega`` is applied as its expectation
    (see :func:`rnnt_loss_tdt`)."""

    def __init__(self, blank_idx: int, durations: List[int], reduction: str = "mean_batch",
                 fastemit_lambda: float = 0.0, clamp: float = -1.0, sigma: float = 0.0,
                 omega: float = 0.0):
        super().__init__()
        if reduction not in _NEMO_REDUCTIONS:
            raise ValueError(f"TDTLoss: reduction must be one of {_NEMO_REDUCTIONS}, got {reduction!r}")
        self.blank_idx = blank_idx
        self.durations = list(durations)
        self.reduction = reduction
        self.fastemit_lambda = fastemit_lambda
        self.clamp = clamp
        self.sigma = sigma
        self.omega = omega

    def forward(self, acts: Tensor, labels: Tensor, act_lens: Tensor, label_lens: Tensor) -> Tensor:
        acts, symbols, boundary = _nemo_inputs(acts, labels, act_lens, label_lens, self.clamp)
        D = len(self.durations)
        losses = rnnt_loss_tdt(
            acts[..., :-D], acts[..., -D:], symbols, self.blank_idx, self.durations, boundary,
            self.sigma, self.omega, self.fastemit_lambda, "none")
        return _nemo_reduce(losses, label_lens, self.reduction)


class MultiBlankRNNTLoss(torch.nn.Module):
    """NeMo-compatible multi-blank loss module (``MultiblankRNNTLossNumba``
    inputs): ``acts [B][T][U+1][C]`` with the standard blank at ``blank_idx``
    (NeMo: the last class) and big blank i, of duration
    ``big_blank_durations[i]``, at ``blank_idx - 1 - i``. Other arguments as
    :class:`TDTLoss` (FastEmit is not applied to multi-blank)."""

    def __init__(self, blank_idx: int, big_blank_durations: List[int],
                 reduction: str = "mean_batch", clamp: float = -1.0, sigma: float = 0.0):
        super().__init__()
        if reduction not in _NEMO_REDUCTIONS:
            raise ValueError(
                f"MultiBlankRNNTLoss: reduction must be one of {_NEMO_REDUCTIONS}, got {reduction!r}")
        self.blank_idx = blank_idx
        self.big_blank_durations = list(big_blank_durations)
        self.big_blank_ids = [blank_idx - 1 - i for i in range(len(self.big_blank_durations))]
        self.reduction = reduction
        self.clamp = clamp
        self.sigma = sigma

    def forward(self, acts: Tensor, labels: Tensor, act_lens: Tensor, label_lens: Tensor) -> Tensor:
        acts, symbols, boundary = _nemo_inputs(acts, labels, act_lens, label_lens, self.clamp)
        losses = rnnt_loss_multiblank(
            acts, symbols, self.blank_idx, self.big_blank_ids, self.big_blank_durations, boundary,
            self.sigma, "none")
        return _nemo_reduce(losses, label_lens, self.reduction)
