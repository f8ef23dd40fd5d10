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

from rnnt_ops.lengths import check_on_device, checked_lengths


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


def _nemo_reduction(reduction: Optional[str], module: str) -> str:
    """NeMo's reduction names; None (what NeMo's RNNTLoss sets on its inner
    loss) is 'none'."""
    if reduction is None:
        return "none"
    if reduction not in _NEMO_REDUCTIONS:
        raise ValueError(
            f"{module}: reduction must be one of {_NEMO_REDUCTIONS} or None, got {reduction!r}")
    return reduction


def _nemo_reduce(losses: Tensor, label_lens: Tensor, reduction: Optional[str]) -> Tensor:
    """NeMo's RNNTLoss reductions: 'mean_batch' (batch mean), 'mean' (each
    loss over its label length, then batch mean), 'mean_volume' (sum over
    the sum of label lengths), 'sum', 'none' or None (per item)."""
    if reduction is None:
        return losses
    if reduction == "mean_batch":
        return losses.mean()
    if reduction == "mean":
        return (losses / label_lens.to(losses.dtype)).mean()
    if reduction == "mean_volume":
        return losses.sum() / label_lens.sum().to(losses.dtype)
    if reduction == "sum":
        return losses.sum()
    return losses


# How a NeMo-style module and its forward arguments are named in errors:
# (module, acts, labels, act_lens, label_lens). A wrapper that calls the
# module with arguments of its own (rnnt_ops.nemo.RNNTLoss) sets its names.
def _nemo_names(module: str) -> List[str]:
    return [module, "acts", "labels", "act_lens", "label_lens"]


def _nemo_inputs(names: List[str], acts: Tensor, labels: Tensor, act_lens: Tensor,
                 label_lens: Tensor, durations: int = 0) -> Tuple[Tensor, Tensor]:
    """(symbols ``[B][U]`` int64, boundary ``[B][4]``) from NeMo's padded
    labels and lengths, for ``acts [B][T][U+1][C + durations]``. Label
    positions past an item's length are never read; they become the blank's
    stand-in 0 only after the check that every item's labels are there.
    With value checks on, the lengths and labels are checked (by graph ops,
    traced graphs included); errors use ``names`` (_nemo_names)."""
    module, acts_name, labels_name, act_lens_name, label_lens_name = names
    if acts.dim() != 4:
        raise RuntimeError(
            f"{module}: {acts_name} must be 4-D [B][T][U+1][C], got {acts.dim()}-D")
    if acts.size(3) <= durations:
        raise RuntimeError(
            f"{module}: {acts_name} must have the label logits then the {durations} duration "
            f"logits in its last dimension, got {acts.size(3)} entries")
    for name, t in ((labels_name, labels), (act_lens_name, act_lens),
                    (label_lens_name, label_lens)):
        check_on_device(t, name, acts, acts_name, module)
    B = acts.size(0)
    U = acts.size(2) - 1
    if labels.dim() != 2 or labels.size(0) != B or labels.is_floating_point():
        raise RuntimeError(
            f"{module}: {labels_name} must be an integer [B][U] tensor with B = {B}, got a "
            f"{labels.dtype} tensor of shape {list(labels.shape)}")
    for name, lens in ((act_lens_name, act_lens), (label_lens_name, label_lens)):
        if lens.dim() != 1 or lens.size(0) != B or lens.is_floating_point():
            raise RuntimeError(
                f"{module}: {name} must be an integer [B] tensor with B = {B} (one length "
                f"per item of {acts_name}), got a {lens.dtype} tensor of shape "
                f"{list(lens.shape)}")
    width = labels.size(1)
    if width < U and B > 0:
        # Narrower labels than the lattice: padding is harmless unless some
        # item's labels would be cut (a host read, only in this case).
        longest = int(label_lens.max())
        if longest > width:
            raise ValueError(
                f"{module}: {labels_name} has {width} columns but {label_lens_name} asks for "
                f"up to {longest} labels: {labels_name} must hold every item's labels")
        labels = torch.nn.functional.pad(labels, (0, U - width))
    symbols = labels[:, :U].to(torch.int64)
    lens = checked_lengths(label_lens, U, label_lens_name, module)
    frames = checked_lengths(act_lens, acts.size(1), act_lens_name, module)
    positions = torch.arange(U, device=symbols.device).view(1, U)
    past_end = positions >= lens.to(symbols.device).view(B, 1)
    symbols = torch.ops.rnnt._checked_index(symbols.masked_fill(past_end, 0),
                                            acts.size(3) - durations, labels_name, module)
    zeros = torch.zeros_like(lens)
    boundary = torch.stack([zeros, zeros, lens, frames.to(lens.device)], 1)
    return symbols, boundary


def _with_item_grads(costs: Tensor, leaves: List[Tensor], inputs: List[Tensor],
                     clamps: List[float]) -> Tensor:
    """``costs`` (per item, ``[B]``, computed from ``leaves``: detached
    copies of ``inputs`` that require grad) with the gradient towards
    ``inputs[i]`` replaced by ``grad_out[b] * clip(d costs[b] / d inputs[i][b],
    -clamps[i], clamps[i])`` (no clip where ``clamps[i] <= 0``): NeMo's
    (and torchaudio's) clamp, which clips each item's own gradient before
    the reduction scales it. Items are independent, so the gradient of
    ``costs.sum()`` holds every item's own. The clipped gradient is attached
    through ``costs + (linear - linear.detach())`` with ``linear[b] =
    sum(inputs[i][b] * clipped[b])``, which adds exactly 0 to the value; a
    Python autograd.Function would do the same but cannot be saved by
    ``torch.jit.save``. The gradient is one of the gradient: not twice
    differentiable."""
    grads = torch.autograd.grad([costs.sum()], leaves, allow_unused=True)
    out = costs.detach()
    for i in range(len(inputs)):
        grad = grads[i]
        if grad is not None:
            if clamps[i] > 0:
                grad = grad.clamp(-clamps[i], clamps[i])
            # Entries with zero gradient are left out so that a -inf input
            # cannot make the sum NaN.
            products = torch.where(grad != 0, inputs[i].to(out.dtype) * grad.to(out.dtype),
                                   torch.zeros_like(grad, dtype=out.dtype))
            linear = products.flatten(1).sum(1)
            out = out + (linear - linear.detach())
    return out


def _needs_grad_hook(acts: Tensor, clamp: float) -> bool:
    return clamp > 0 and acts.requires_grad and torch.is_grad_enabled()


class TDTLoss(torch.nn.Module):
    """NeMo-compatible TDT loss module (``TDTLossNumba`` / ``RNNTLoss(
    loss_name='tdt')`` inputs). ``forward(acts, labels, act_lens,
    label_lens)``: ``acts [B][T][U+1][V+1+D]`` joiner output with the label
    logits first (blank at ``blank``; NeMo's ``RNNTLoss(num_classes=V)``
    uses ``blank = V``) and the D duration logits last; ``labels [B][U']``
    (``U' >= max(label_lens)``; positions past an item's length are never
    read); ``act_lens``, ``label_lens`` ``[B]``.

    Constructor keywords as NeMo's ``TDTLossNumba``: ``blank`` (or
    ``blank_idx``), ``durations``, ``reduction``, ``fastemit_lambda``,
    ``clamp``, ``sigma``, ``omega``. ``reduction``: NeMo's ``RNNTLoss``
    names ('mean_batch', 'mean' = each loss over its label length,
    'mean_volume', 'sum', 'none' or None); NeMo's numba module's own
    'mean' is the batch mean, 'mean_batch' here. ``clamp > 0`` clips, per
    item, the gradient of the label logits to ``[-clamp, clamp]`` before the
    reduction scales it, as NeMo's kernel does (duration logits unclipped).
    ``omega`` is applied as its expectation (see :func:`rnnt_loss_tdt`)."""

    reduction: Optional[str]

    def __init__(self, blank: Optional[int] = None, durations: Optional[List[int]] = None,
                 reduction: Optional[str] = "mean_batch", fastemit_lambda: float = 0.0,
                 clamp: float = -1.0, sigma: float = 0.0, omega: float = 0.0,
                 blank_idx: Optional[int] = None):
        super().__init__()
        self.blank_idx = _blank_of("TDTLoss", blank, blank_idx)
        self.names = _nemo_names("TDTLoss")
        if durations is None or len(durations) == 0:
            raise ValueError("TDTLoss: durations must be a non-empty list of durations, e.g. "
                             f"[0, 1, 2, 3, 4], got {durations!r}")
        self.durations = [int(d) for d in durations]
        self.reduction = _nemo_reduction(reduction, "TDTLoss")
        self.fastemit_lambda = float(fastemit_lambda)
        self.clamp = float(clamp)
        self.sigma = float(sigma)
        self.omega = float(omega)

    @property
    def blank(self) -> int:
        return self.blank_idx

    def forward(self, acts: Tensor, labels: Tensor, act_lens: Tensor, label_lens: Tensor) -> Tensor:
        D = len(self.durations)
        symbols, boundary = _nemo_inputs(self.names, acts, labels, act_lens, label_lens, D)
        label_logits, duration_logits = acts[..., :-D], acts[..., -D:]
        if _needs_grad_hook(acts, self.clamp):
            leaves = [label_logits.detach().requires_grad_(),
                      duration_logits.detach().requires_grad_()]
            losses = rnnt_loss_tdt(leaves[0], leaves[1], symbols, self.blank_idx, self.durations,
                                   boundary, self.sigma, self.omega, self.fastemit_lambda, "none")
            losses = _with_item_grads(losses, leaves, [label_logits, duration_logits],
                                      [self.clamp, 0.0])
        else:
            losses = rnnt_loss_tdt(label_logits, duration_logits, symbols, self.blank_idx,
                                   self.durations, boundary, self.sigma, self.omega,
                                   self.fastemit_lambda, "none")
        return _nemo_reduce(losses, label_lens, self.reduction)


class MultiBlankRNNTLoss(torch.nn.Module):
    """NeMo-compatible multi-blank loss module (``MultiblankRNNTLossNumba``
    inputs): ``acts [B][T][U+1][C]`` with the standard blank at ``blank``
    (or ``blank_idx``; NeMo: the last class) and big blank i, of duration
    ``big_blank_durations[i]``, at ``blank - 1 - i``. Other arguments as
    :class:`TDTLoss`; ``clamp`` clips the per-item gradient of all of
    ``acts``. FastEmit is not implemented for multi-blank:
    ``fastemit_lambda`` (a NeMo keyword) must be 0."""

    reduction: Optional[str]

    def __init__(self, blank: Optional[int] = None,
                 big_blank_durations: Optional[List[int]] = None,
                 reduction: Optional[str] = "mean_batch", fastemit_lambda: float = 0.0,
                 clamp: float = -1.0, sigma: float = 0.0, blank_idx: Optional[int] = None):
        super().__init__()
        self.blank_idx = _blank_of("MultiBlankRNNTLoss", blank, blank_idx)
        self.names = _nemo_names("MultiBlankRNNTLoss")
        if big_blank_durations is None or len(big_blank_durations) == 0:
            raise ValueError("MultiBlankRNNTLoss: big_blank_durations must be a non-empty list "
                             f"of durations >= 2, e.g. [2, 4, 8], got {big_blank_durations!r}")
        if fastemit_lambda != 0.0:
            raise ValueError("MultiBlankRNNTLoss: fastemit_lambda must be 0 (FastEmit is not "
                             f"implemented for the multi-blank loss), got {fastemit_lambda}")
        self.big_blank_durations = [int(d) for d in big_blank_durations]
        self.big_blank_ids = [self.blank_idx - 1 - i for i in range(len(self.big_blank_durations))]
        self.reduction = _nemo_reduction(reduction, "MultiBlankRNNTLoss")
        self.fastemit_lambda = 0.0
        self.clamp = float(clamp)
        self.sigma = float(sigma)

    @property
    def blank(self) -> int:
        return self.blank_idx

    def forward(self, acts: Tensor, labels: Tensor, act_lens: Tensor, label_lens: Tensor) -> Tensor:
        symbols, boundary = _nemo_inputs(self.names, acts, labels, act_lens, label_lens)
        if _needs_grad_hook(acts, self.clamp):
            leaf = acts.detach().requires_grad_()
            losses = rnnt_loss_multiblank(leaf, symbols, self.blank_idx, self.big_blank_ids,
                                          self.big_blank_durations, boundary, self.sigma, "none")
            losses = _with_item_grads(losses, [leaf], [acts], [self.clamp])
        else:
            losses = rnnt_loss_multiblank(acts, symbols, self.blank_idx, self.big_blank_ids,
                                          self.big_blank_durations, boundary, self.sigma, "none")
        return _nemo_reduce(losses, label_lens, self.reduction)


def _blank_of(module: str, blank: Optional[int], blank_idx: Optional[int]) -> int:
    """The blank index from NeMo's ``blank=`` or rnnt_ops' earlier ``blank_idx=``."""
    if blank is None and blank_idx is None:
        raise ValueError(f"{module}: the blank index must be given (blank=, as NeMo's "
                         "num_classes, or blank_idx=)")
    if blank is not None and blank_idx is not None and blank != blank_idx:
        raise ValueError(f"{module}: blank={blank} and blank_idx={blank_idx} disagree; give one")
    return int(blank if blank is not None else blank_idx)
