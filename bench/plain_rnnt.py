"""The RNN-T losses in plain, vectorised PyTorch: the benchmark's baseline.

Same call signatures as the rnnt_ops functions of the same names (a subset:
regular RNN-T, boundary rows ``(0, 0, s_end, t_end)``, reduction "sum" or
"none"), so bench/steps.py runs the same step with either module. Backward
is autograd through ordinary tensor ops; nothing here calls an rnnt_ops op.

Lattice (k2 / fast_rnnt "regular" convention), for item b with s_end = U_b
symbols and t_end = T_b frames::

    px[b, s, t] = log p(symbols[b, s] | frame t, s symbols emitted)   [B][S][T+1]
                  (-inf at t = t_end and t = T: no symbol after the last frame)
    py[b, s, t] = log p(blank | frame t, s symbols emitted)           [B][S+1][T]
    p[0, 0] = 0,  p[s, t] = logaddexp(p[s-1, t] + px[s-1, t], p[s, t-1] + py[s, t-1])
    loss[b] = -p[s_end, t_end]
"""

from typing import Optional, Tuple

import torch
from torch import Tensor


NEG_INF = float("-inf")
# Log-prob of the lattice arcs outside the pruning windows. Finite, unlike
# rnnt_ops' -inf, because autograd's logaddexp(-inf, -inf) has a NaN
# derivative; exp(MASKED + anything finite) is still exactly 0, so no path
# through a masked arc adds to a score, and a score under MASKED / 2 means no
# path stays inside the windows. float32/float64 only.
MASKED = -1e30


def antidiagonal_recursion(px: Tensor, py: Tensor, ends: Optional[Tensor] = None) -> Tensor:
    """Scores p[b, s_end, t_end] of the regular lattice recursion (k2's
    mutual_information_recursion with boundaries starting at (0, 0))::

        p[0, 0] = 0,  p[s, t] = logaddexp(p[s-1, t] + px[s-1, t], p[s, t-1] + py[s, t-1])

    The nodes with s + t = k depend only on diagonal k - 1, so each diagonal
    is one vectorised step over batch and diagonal. A ragged batch runs to
    its longest item's end; every item reads its score at its own end node.
    px [B][S][T+1], py [B][S+1][T]; ends int64 [B][2] rows (s_end, t_end),
    default (S, T) for every item. Returns [B]."""
    B, S, T1 = px.shape
    T = T1 - 1
    ends = [(S, T)] * B if ends is None else ends.tolist()
    neg_inf = px.new_tensor(NEG_INF)
    diagonals = [px.new_zeros(B, 1)]  # diagonal 0: node (0, 0)
    for k in range(1, max(s + t for s, t in ends) + 1):
        s = torch.arange(max(0, k - T), min(S, k) + 1, device=px.device)
        t = k - s
        prev = diagonals[-1]
        prev_lo, width = max(0, k - 1 - T), prev.shape[1]  # first s and size of diagonal k - 1
        up = (s - 1 - prev_lo).clamp(0, width - 1)  # (s-1, t) on diagonal k - 1
        left = (s - prev_lo).clamp(0, width - 1)  # (s, t-1) on diagonal k - 1
        from_symbol = torch.where(s >= 1, prev[:, up] + px[:, (s - 1).clamp(min=0), t], neg_inf)
        from_blank = torch.where(
            (t >= 1) & (s - prev_lo < width), prev[:, left] + py[:, s, (t - 1).clamp(min=0)], neg_inf
        )
        diagonals.append(torch.logaddexp(from_symbol, from_blank))
    return torch.stack([diagonals[s + t][b, s - max(0, s + t - T)] for b, (s, t) in enumerate(ends)])


def _ends(boundary: Optional[Tensor], B: int, S: int, T: int) -> Tensor:
    """(s_end, t_end) rows of ``boundary``, default (S, T)."""
    if boundary is None:
        return torch.tensor([[S, T]] * B)
    if boundary[:, :2].any():
        raise ValueError("plain_rnnt: boundary rows must start at (0, 0)")
    return boundary[:, 2:]


def _lattice(px_by_frame: Tensor, py_by_frame: Tensor, t_end: Tensor) -> Tuple[Tensor, Tensor]:
    """(px [B][S][T+1], py [B][S+1][T]) from per-frame arc log-probs
    ``px_by_frame [B][T][S]``, ``py_by_frame [B][T][S+1]``: transposed, px
    given its -inf columns t_end and T."""
    B, T, S = px_by_frame.shape
    px = torch.cat([px_by_frame.transpose(1, 2), px_by_frame.new_full((B, S, 1), NEG_INF)], dim=2)
    last_frame = torch.arange(T + 1, device=px.device) == t_end.to(px.device).view(B, 1, 1)
    return px.masked_fill(last_frame, NEG_INF), py_by_frame.transpose(1, 2)


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"plain_rnnt: reduction must be 'sum' or 'none', got {reduction!r}")


def rnnt_loss(
    logits: Tensor, symbols: Tensor, termination_symbol: int,
    boundary: Optional[Tensor] = None, reduction: str = "sum",
) -> Tensor:
    """Full RNN-T loss of ``logits [B][T][S+1][C]``: ``log_softmax`` over C,
    px/py gathered from it, then :func:`antidiagonal_recursion`."""
    B, T, S1, _ = logits.shape
    S = S1 - 1
    ends = _ends(boundary, B, S, T)
    logp = logits.log_softmax(-1)
    symbol_logp = logp[:, :, :S].gather(3, symbols[:, None, :, None].expand(B, T, S, 1)).squeeze(3)
    px, py = _lattice(symbol_logp, logp[..., termination_symbol], ends[:, 1])
    return _reduce(-antidiagonal_recursion(px, py, ends), reduction)


def rnnt_loss_simple(
    lm: Tensor, am: Tensor, symbols: Tensor, termination_symbol: int,
    boundary: Optional[Tensor] = None, reduction: str = "sum", return_grad: bool = False,
):
    """RNN-T loss of the simple joiner ``log_softmax(am[b, t] + lm[b, s])``
    (lm [B][S+1][C], am [B][T][C]). The normaliser logsumexp_c(am + lm) is
    one batched matmul, exp(am - max) @ exp(lm - max)^T, so no [B][T][S+1][C]
    tensor is formed. With ``return_grad``: ``(loss, (px_grad, py_grad))``,
    the gradients of the summed scores w.r.t. px and py by
    ``torch.autograd.grad`` (lm or am must require grad)."""
    B, T, _ = am.shape
    S = symbols.shape[1]
    ends = _ends(boundary, B, S, T)
    am_max = am.detach().amax(2, keepdim=True)  # [B][T][1]
    lm_max = lm.detach().amax(2, keepdim=True)  # [B][S+1][1]
    norm = torch.bmm((am - am_max).exp(), (lm - lm_max).exp().transpose(1, 2)).log()
    norm = norm + am_max + lm_max.transpose(1, 2)  # [B][T][S+1]
    lm_symbols = lm[:, :S].gather(2, symbols[..., None]).transpose(1, 2)  # [B][1][S]
    symbol_scores = am.gather(2, symbols[:, None, :].expand(B, T, S)) + lm_symbols
    blank_scores = am[:, :, termination_symbol, None] + lm[:, None, :, termination_symbol]
    px, py = _lattice(symbol_scores - norm[:, :, :S], blank_scores - norm, ends[:, 1])
    scores = antidiagonal_recursion(px, py, ends)
    loss = _reduce(-scores, reduction)
    if not return_grad:
        return loss
    px_grad, py_grad = torch.autograd.grad(scores.sum(), (px, py), retain_graph=True)
    return loss, (px_grad, py_grad)


def get_rnnt_prune_ranges(
    px_grad: Tensor, py_grad: Tensor, boundary: Optional[Tensor], s_range: int
) -> Tensor:
    """k2's windows rule (arXiv:2206.13236 sec. 3.2), regular RNN-T, as
    vectorised tensor ops: per frame the window of ``s_range`` rows with the
    most blank occupancy minus the symbol occupancy entering it from below;
    from the item's last frame on, the window ending at s_end; starts made
    non-decreasing (a reversed cummin), then raised so that no start is
    ``s_range`` or more above the one before it, frame 0 starting at 0.
    px_grad [B][S][T+1], py_grad [B][S+1][T]; returns int64 [B][T][R].
    R is s_range raised to what every item needs to reach its s_end,
    max over items of (s_end - 1) // t_end + 2, and capped at S + 1."""
    B, S1, T = py_grad.shape
    S = S1 - 1
    ends = _ends(boundary, B, S, T).to(py_grad.device)
    has_path = (ends[:, 0] >= 1) & (ends[:, 1] >= 1)
    need = torch.where(has_path, (ends[:, 0] - 1) // ends[:, 1].clamp(min=1) + 2, 1)
    R = min(max(s_range, int(need.max()) if B else 1), S1)
    cum = torch.cat([py_grad.new_zeros(B, 1, T), py_grad.cumsum(1)], dim=1)
    windows = S + 2 - R
    entering = torch.cat([px_grad.new_zeros(B, 1, T + 1), px_grad], dim=1)[:, :windows, :T]
    start = (cum[:, R:R + windows] - cum[:, :windows] - entering).argmax(1)  # [B][T]
    frame = torch.arange(T, device=py_grad.device)
    last_start = (ends[:, 0] - (R - 1)).clamp(min=0).view(B, 1)
    start = torch.where(frame < ends[:, 1:] - 1, start, last_start)
    start = start.flip(1).cummin(1).values.flip(1)
    ramp = frame * (R - 1)
    slack = (ramp - start).flip(1).cummin(1).values.flip(1).clamp(min=0)
    start = (ramp - slack).clamp(0, S + 1 - R)
    return start[:, :, None] + torch.arange(R, device=py_grad.device)


def do_rnnt_pruning(am: Tensor, lm: Tensor, ranges: Tensor) -> Tuple[Tensor, Tensor]:
    """``am [B][T][D]`` and ``lm [B][S+1][D]`` inside the windows ``ranges
    [B][T][R]``: ``(am_pruned, lm_pruned)``, each ``[B][T][R][D]``."""
    B, T, R = ranges.shape
    batch = torch.arange(B, device=ranges.device).view(B, 1, 1)
    return am[:, :, None, :].expand(B, T, R, am.shape[2]), lm[batch, ranges]


def rnnt_loss_pruned(
    logits: Tensor, symbols: Tensor, ranges: Tensor, termination_symbol: int,
    boundary: Optional[Tensor] = None, reduction: str = "sum",
) -> Tensor:
    """RNN-T loss of a pruned joiner output ``logits [B][T][R][C]``: px/py of
    the window positions ``ranges [B][T][R]``, scattered into the full
    lattice (:data:`MASKED` elsewhere), then :func:`antidiagonal_recursion`."""
    B, T, R, _ = logits.shape
    S = symbols.shape[1]
    ends = _ends(boundary, B, S, T)
    padded = torch.cat([symbols, symbols.new_full((B, 1), termination_symbol)], dim=1)  # s = S: no symbol
    window_symbols = padded.gather(1, ranges.reshape(B, T * R)).view(B, T, R)
    logp = logits.log_softmax(-1)
    window_px = logp.gather(3, window_symbols[..., None]).squeeze(3)  # [B][T][R]
    masked = logits.new_full((B, T, S + 1), MASKED)
    px_by_frame = masked.scatter(2, ranges, window_px)[:, :, :S]
    py_by_frame = masked.scatter(2, ranges, logp[..., termination_symbol])
    px, py = _lattice(px_by_frame, py_by_frame, ends[:, 1])
    scores = antidiagonal_recursion(px, py, ends)
    scores = scores.masked_fill(scores < MASKED / 2, NEG_INF)  # no path inside the windows: loss inf
    return _reduce(-scores, reduction)
