"""FastEmit regularisation (Yu et al., "FastEmit: Low-latency Streaming ASR
with Sequence-level Emission Regularization", ICASSP 2021) for the RNN-T
losses, as NeMo and warp-rnnt implement it: the gradient of every
symbol-emission arc's log-prob (px) is scaled by ``1 + fastemit_lambda``
(blank arcs unchanged), and the reported per-item loss is
``(1 + fastemit_lambda) * -log P``. The reported value is therefore not the
function whose gradient is returned (as in NeMo/warp-rnnt)."""

from typing import Optional, Tuple

import torch
from torch import Tensor


def scale_emission_grad(px: Tensor, fastemit_lambda: float) -> Tensor:
    """px unchanged in value, its gradient scaled by ``1 + fastemit_lambda``
    (entries that are -inf, the lattice's missing arcs, keep gradient 1).
    ``px - px.detach()`` is exactly 0 where px is finite. Shared by the
    k2-style losses (which report ``(1 + lambda) * loss``, as NeMo) and the
    torchaudio-style loss (which reports the loss, as torchaudio)."""
    scaled = px + fastemit_lambda * (px - px.detach())
    return torch.where(torch.isfinite(px.detach()), scaled, px)


def fastemit_loss_from_logprobs(
    px: Tensor,
    py: Tensor,
    boundary: Optional[Tensor],
    fastemit_lambda: float,
    reduction: str,
    zero_infinity: bool,
) -> Tuple[Tensor, Tensor, Tensor]:
    """(reduced loss, px_grad, py_grad) of the lattice (px, py) with FastEmit."""
    if fastemit_lambda < 0:
        raise ValueError(f"fastemit_lambda must be >= 0, got {fastemit_lambda}")
    scores, px_grad, py_grad = torch.ops.rnnt.mutual_information_with_grad(
        scale_emission_grad(px, fastemit_lambda), py, boundary)
    losses = -scores
    losses = losses + fastemit_lambda * losses.detach()
    if zero_infinity:
        losses = torch.where(losses == float("inf"), torch.zeros_like(losses), losses)
    if reduction == "mean":
        return losses.mean(), px_grad, py_grad
    if reduction == "sum":
        return losses.sum(), px_grad, py_grad
    if reduction == "none":
        return losses, px_grad, py_grad
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got '{reduction}'")


def check_fastemit_args(fastemit_lambda: float, delay_penalty: float, fn: str) -> None:
    if fastemit_lambda != 0.0 and delay_penalty != 0.0:
        raise ValueError(
            f"{fn}: fastemit_lambda and delay_penalty are two emission regularisers; "
            f"use one, got fastemit_lambda={fastemit_lambda}, delay_penalty={delay_penalty}")
