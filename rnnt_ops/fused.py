"""RNN-T (and TDT) losses fused with the joiner: the logits never exist.

The joiner is ``logits[b, t, s] = activation(am[b, t] + lm[b, s]) @ weight.T
+ bias`` with ``am [B][T][D]`` (encoder projection), ``lm [B][S+1][D]``
(decoder projection), ``weight [C][D]``, ``bias [C]`` or None, activation
``"tanh"`` (icefall), ``"relu"`` (NeMo) or ``"identity"``. The fused losses
give the value and the gradients w.r.t. am, lm, weight and bias of the loss
of those logits, but compute them chunk by chunk: each chunk of lattice
cells (cells of one item's ``boundary`` box only, so no work on padding)
gets its hidden activation, its logits by one GEMM and their log-normaliser,
and keeps only the blank and symbol log-probs. The backward recomputes the
chunks and accumulates the four gradients by GEMMs. Memory no longer grows
with ``B * T * (S+1) * C``: it is the inputs, ``[B][T][S+1]`` lattices and
one chunk. ``rnnt_loss_tdt_fused`` adds NeMo's TDT duration head on the same
hidden activation (its small duration logits are kept per cell).

The cells of all items are packed into chunks (so the GEMM count follows
the lattice's cells, not the batch size). ``chunk_cells`` (> 0) sets the
lattice cells per chunk; by default about 4 MiB of logits (at least 256
cells), within a memory budget of ``RNNT_OPS_FUSED_JOINER_MB`` MiB (64 by
default).
float16/bfloat16 inputs run the GEMMs in their dtype and accumulate the rest
in float32.

``sparse_backward`` (keyword, default True): the backward recomputes only
the cells whose occupation can matter at the GEMMs' precision: per item, the
lightest cells whose occupations (``|d loss / d symbol log-prob| + |d loss /
d blank log-prob|``) sum to at most u/8 of the item's total (u the GEMMs'
unit roundoff) are skipped, and the kept cells of all items are gathered
into dense chunks. The gradients then differ from the full recomputation
by at most u/4 of the occupation mass in the norms of docs/performance.md
("Sparse backward"); False recomputes every cell.

Joiner dropout, if any, must happen outside (on am/lm). ONNX
export is not supported: export the unfused composition instead.
"""

from typing import List, Optional

import torch
from torch import Tensor

from rnnt_ops._script_twin import scripts_as


def _rnnt_loss_fused(
    am: Tensor,
    lm: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    activation: str = "tanh",
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    zero_infinity: bool = False,
    chunk_cells: int = 0,
    fastemit_lambda: float = 0.0,
    sparse_backward: bool = True,
) -> Tensor:
    """:func:`rnnt_loss_fused` with every argument positional-or-keyword
    (what TorchScript compiles for it)."""
    return torch.ops.rnnt.rnnt_loss_fused(
        am, lm, weight, bias, symbols, termination_symbol, boundary, activation, rnnt_type,
        delay_penalty, reduction, zero_infinity, chunk_cells, fastemit_lambda, sparse_backward,
    )


@scripts_as(_rnnt_loss_fused)
def rnnt_loss_fused(
    am: Tensor,
    lm: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    activation: str = "tanh",
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    zero_infinity: bool = False,
    chunk_cells: int = 0,
    fastemit_lambda: float = 0.0,
    *,
    sparse_backward: bool = True,
) -> Tensor:
    """``rnnt_loss(activation(am[:, :, None] + lm[:, None]) @ weight.T + bias,
    symbols, termination_symbol, boundary, rnnt_type, delay_penalty,
    reduction, zero_infinity=zero_infinity, fastemit_lambda=fastemit_lambda)``
    without forming the logits; ``sparse_backward`` as in the module's
    docstring."""
    return _rnnt_loss_fused(am, lm, weight, bias, symbols, termination_symbol, boundary,
                            activation, rnnt_type, delay_penalty, reduction, zero_infinity,
                            chunk_cells, fastemit_lambda, sparse_backward)


def _rnnt_loss_pruned_fused(
    am: Tensor,
    lm: Tensor,
    ranges: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    activation: str = "tanh",
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    use_hat_loss: bool = False,
    zero_infinity: bool = False,
    chunk_cells: int = 0,
    fastemit_lambda: float = 0.0,
    sparse_backward: bool = True,
) -> Tensor:
    """:func:`rnnt_loss_pruned_fused` with every argument
    positional-or-keyword (what TorchScript compiles for it)."""
    return torch.ops.rnnt.rnnt_loss_pruned_fused(
        am, lm, ranges, weight, bias, symbols, termination_symbol, boundary, activation,
        rnnt_type, delay_penalty, reduction, use_hat_loss, zero_infinity, chunk_cells,
        fastemit_lambda, sparse_backward,
    )


@scripts_as(_rnnt_loss_pruned_fused)
def rnnt_loss_pruned_fused(
    am: Tensor,
    lm: Tensor,
    ranges: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    symbols: Tensor,
    termination_symbol: int,
    boundary: Optional[Tensor] = None,
    activation: str = "tanh",
    rnnt_type: str = "regular",
    delay_penalty: float = 0.0,
    reduction: str = "mean",
    use_hat_loss: bool = False,
    zero_infinity: bool = False,
    chunk_cells: int = 0,
    fastemit_lambda: float = 0.0,
    *,
    sparse_backward: bool = True,
) -> Tensor:
    """``do_rnnt_pruning(am, lm, ranges)``, the joiner on the pruned pair and
    ``rnnt_loss_pruned`` of its logits (``fastemit_lambda`` as there), without
    forming the pruned am/lm or the logits (``ranges [B][T][s_range]`` from
    ``get_rnnt_prune_ranges``); ``sparse_backward`` as in the module's
    docstring."""
    return _rnnt_loss_pruned_fused(am, lm, ranges, weight, bias, symbols, termination_symbol,
                                   boundary, activation, rnnt_type, delay_penalty, reduction,
                                   use_hat_loss, zero_infinity, chunk_cells, fastemit_lambda,
                                   sparse_backward)


def _rnnt_loss_tdt_fused(
    am: Tensor,
    lm: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    duration_weight: Tensor,
    duration_bias: Optional[Tensor],
    symbols: Tensor,
    termination_symbol: int,
    durations: List[int],
    boundary: Optional[Tensor] = None,
    activation: str = "tanh",
    sigma: float = 0.0,
    omega: float = 0.0,
    fastemit_lambda: float = 0.0,
    reduction: str = "mean",
    zero_infinity: bool = False,
    chunk_cells: int = 0,
    sparse_backward: bool = True,
) -> Tensor:
    """:func:`rnnt_loss_tdt_fused` with every argument positional-or-keyword
    (what TorchScript compiles for it)."""
    return torch.ops.rnnt.rnnt_loss_tdt_fused(
        am, lm, weight, bias, duration_weight, duration_bias, symbols, termination_symbol,
        durations, boundary, activation, sigma, omega, fastemit_lambda, reduction, zero_infinity,
        chunk_cells, sparse_backward,
    )


@scripts_as(_rnnt_loss_tdt_fused)
def rnnt_loss_tdt_fused(
    am: Tensor,
    lm: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],
    duration_weight: Tensor,
    duration_bias: Optional[Tensor],
    symbols: Tensor,
    termination_symbol: int,
    durations: List[int],
    boundary: Optional[Tensor] = None,
    activation: str = "tanh",
    sigma: float = 0.0,
    omega: float = 0.0,
    fastemit_lambda: float = 0.0,
    reduction: str = "mean",
    *,
    zero_infinity: bool = False,
    chunk_cells: int = 0,
    sparse_backward: bool = True,
) -> Tensor:
    """``rnnt_loss_tdt(h @ weight.T + bias, h @ duration_weight.T +
    duration_bias, symbols, termination_symbol, durations, boundary, sigma,
    omega, fastemit_lambda, reduction, zero_infinity)`` with ``h =
    activation(am[:, :, None] + lm[:, None])`` (NeMo's TDT joint: label and
    duration heads on one hidden activation), without forming ``h`` or the
    logits. ``duration_weight [len(durations)][D]``, ``duration_bias
    [len(durations)]`` or None; the rest as in :func:`rnnt_loss_fused`."""
    return _rnnt_loss_tdt_fused(am, lm, weight, bias, duration_weight, duration_bias, symbols,
                                termination_symbol, durations, boundary, activation, sigma,
                                omega, fastemit_lambda, reduction, zero_infinity, chunk_cells,
                                sparse_backward)


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


@torch.library.register_fake("rnnt::_fused_joiner_logprobs")
def _fused_joiner_logprobs_fake(am, lm, weight, bias, duration_weight, duration_bias,
                                symbol_index, ranges, termination_symbol, boundary, activation,
                                use_hat_loss, chunk_cells, sparse_backward):
    out = am.new_empty(symbol_index.shape, dtype=_accumulation_dtype(am.dtype))
    heads = 0 if duration_weight is None else duration_weight.shape[0]
    return (out, torch.empty_like(out), torch.empty_like(out),
            out.new_empty((*symbol_index.shape, heads)))


@torch.library.register_fake("rnnt::_fused_joiner_logprobs_backward")
def _fused_joiner_logprobs_backward_fake(grad_symbol, grad_blank, grad_duration, am, lm, weight,
                                         bias, duration_weight, duration_bias, symbol_index,
                                         ranges, log_norm, termination_symbol, boundary,
                                         activation, use_hat_loss, chunk_cells,
                                         sparse_backward):
    heads = 0 if duration_weight is None else duration_weight.shape[0]
    return (am.new_empty(am.shape), lm.new_empty(lm.shape), weight.new_empty(weight.shape),
            weight.new_empty(weight.shape[:1]), weight.new_empty((heads, weight.shape[1])),
            weight.new_empty((heads,)))
