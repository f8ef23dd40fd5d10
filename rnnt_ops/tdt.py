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

from typing import List, Optional

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
