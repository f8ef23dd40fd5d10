"""One training step of each benchmarked loss, on identical data.

A step = joiner forward + loss forward + backward, from random float32
encoder/decoder outputs (``[B][T][dim]``, ``[B][U+1][dim]``, both requiring
grad) through the joiner ``Linear(dim, C)(tanh(am + lm))``:

- ``full_step``: the joiner on the whole lattice ``[B][T][U+1][C]``, then
  ``rnnt_ops.rnnt_loss`` (the "full_inplace" step passes ``inplace_grad=True``);
- ``pruned_step``: two ``Linear(dim, C)`` projections for
  ``rnnt_loss_simple(return_grad=True)``, ``get_rnnt_prune_ranges(s_range)``,
  ``do_rnnt_pruning``, the joiner on ``[B][T][s_range][C]``,
  ``rnnt_loss_pruned``; loss = 0.5 * simple + pruned (the "pruned_unchecked"
  step runs it with the value checks switched off: ``rnnt_ops.value_checks``;
  the "pruned_smoothed" step takes ``rnnt_loss_smoothed(lm_only_scale=0.25,
  am_only_scale=0)`` for the simple loss, as icefall's recipes do);
- ``torchaudio_step``: the full joiner, then ``torchaudio.functional.rnnt_loss``
  (int32 targets and lengths).

``full_step`` and ``pruned_step`` take the module of loss functions as
``ops``: ``rnnt_ops`` (our kernels), or ``bench.plain_rnnt`` (the same
functions in plain, vectorised PyTorch: the "plain_full" and "plain_pruned"
steps).

Ragged batches are padded to the batch maximum; rnnt_ops sees per-item
``boundary`` rows (0, 0, U_b, T_b), torchaudio the lengths. Every loss is
reduction="sum", blank 0. Each step returns the loss value (a detached
0-dim tensor).
"""

from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

import rnnt_ops
from bench import plain_rnnt

BLANK = 0


class BenchModel(nn.Module):
    """The benchmark's trainable parts: simple-loss projections and the joiner."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.simple_am_proj = nn.Linear(dim, vocab_size)
        self.simple_lm_proj = nn.Linear(dim, vocab_size)
        self.output = nn.Linear(dim, vocab_size)

    def joiner(self, am: torch.Tensor, lm: torch.Tensor) -> torch.Tensor:
        return self.output(torch.tanh(am + lm))


@dataclass
class Batch:
    encoder_out: torch.Tensor  # [B][T][dim], requires grad
    decoder_out: torch.Tensor  # [B][U+1][dim], requires grad
    symbols: torch.Tensor  # int64 [B][U] (padding positions hold random symbols)
    boundary: torch.Tensor  # int64 [B][4]: (0, 0, U_b, T_b)
    targets_int32: torch.Tensor  # int32 [B][U], for torchaudio
    logit_lengths: torch.Tensor  # int32 [B]
    target_lengths: torch.Tensor  # int32 [B]

    def zero_grad(self) -> None:
        self.encoder_out.grad = None
        self.decoder_out.grad = None


def make_batch(
    shapes: List[Tuple[int, int]], vocab_size: int, dim: int,
    device="cpu", dtype=torch.float32, seed: int = 0,
) -> Batch:
    """Random inputs for utterances of lengths ``shapes`` [(T, U), ...], seeded."""
    gen = torch.Generator().manual_seed(seed)
    B = len(shapes)
    T = max(t for t, _ in shapes)
    U = max(u for _, u in shapes)
    encoder_out = torch.randn(B, T, dim, generator=gen, dtype=dtype)
    decoder_out = torch.randn(B, U + 1, dim, generator=gen, dtype=dtype)
    symbols = torch.randint(1, vocab_size, (B, U), generator=gen)
    t_len = torch.tensor([t for t, _ in shapes])
    u_len = torch.tensor([u for _, u in shapes])
    zeros = torch.zeros(B, dtype=torch.int64)
    boundary = torch.stack([zeros, zeros, u_len, t_len], dim=1)
    return Batch(
        encoder_out=encoder_out.to(device).requires_grad_(),
        decoder_out=decoder_out.to(device).requires_grad_(),
        symbols=symbols.to(device),
        boundary=boundary.to(device),
        targets_int32=symbols.to(device=device, dtype=torch.int32),
        logit_lengths=t_len.to(device=device, dtype=torch.int32),
        target_lengths=u_len.to(device=device, dtype=torch.int32),
    )


def full_logits(model: BenchModel, batch: Batch) -> torch.Tensor:
    """The joiner on the whole lattice: ``[B][T][U+1][C]``."""
    return model.joiner(batch.encoder_out[:, :, None, :], batch.decoder_out[:, None, :, :])


def full_step(
    model: BenchModel, batch: Batch, ops: ModuleType = rnnt_ops, **loss_options
) -> torch.Tensor:
    logits = full_logits(model, batch)
    loss = ops.rnnt_loss(logits, batch.symbols, BLANK, batch.boundary, reduction="sum",
                         **loss_options)
    del logits  # no reference beyond the loss's own, as in training
    loss.backward()
    return loss.detach()


def pruned_step(
    model: BenchModel, batch: Batch, s_range: int = 5, ops: ModuleType = rnnt_ops,
    smoothing: Optional[Tuple[float, float]] = None,
) -> torch.Tensor:
    lm = model.simple_lm_proj(batch.decoder_out)
    am = model.simple_am_proj(batch.encoder_out)
    if smoothing is None:
        simple, (px_grad, py_grad) = ops.rnnt_loss_simple(
            lm=lm, am=am, symbols=batch.symbols, termination_symbol=BLANK,
            boundary=batch.boundary, reduction="sum", return_grad=True,
        )
    else:
        simple, (px_grad, py_grad) = ops.rnnt_loss_smoothed(
            lm=lm, am=am, symbols=batch.symbols, termination_symbol=BLANK,
            lm_only_scale=smoothing[0], am_only_scale=smoothing[1],
            boundary=batch.boundary, reduction="sum", return_grad=True,
        )
    ranges = ops.get_rnnt_prune_ranges(px_grad, py_grad, batch.boundary, s_range)
    am_pruned, lm_pruned = ops.do_rnnt_pruning(batch.encoder_out, batch.decoder_out, ranges)
    logits = model.joiner(am_pruned, lm_pruned)  # [B][T][s_range][C]
    pruned = ops.rnnt_loss_pruned(
        logits, batch.symbols, ranges, BLANK, batch.boundary, reduction="sum"
    )
    loss = 0.5 * simple + pruned
    loss.backward()
    return loss.detach()


def pruned_step_unchecked(model: BenchModel, batch: Batch, s_range: int = 5) -> torch.Tensor:
    """``pruned_step`` without the host reads of the index and boundary value
    checks (on CUDA, each waits for the device)."""
    with rnnt_ops.value_checks(False):
        return pruned_step(model, batch, s_range)


def torchaudio_rnnt_loss() -> Optional[Callable]:
    """``torchaudio.functional.rnnt_loss`` when torchaudio imports, else None."""
    try:
        import torchaudio.functional as F
    except Exception:  # not installed, or built for another torch
        return None
    return getattr(F, "rnnt_loss", None)


def torchaudio_step(model: BenchModel, batch: Batch) -> torch.Tensor:
    rnnt_loss = torchaudio_rnnt_loss()
    if rnnt_loss is None:
        raise RuntimeError("torchaudio.functional.rnnt_loss is not available")
    logits = full_logits(model, batch)
    loss = rnnt_loss(
        logits, batch.targets_int32, batch.logit_lengths, batch.target_lengths,
        blank=BLANK, reduction="sum",
    )
    loss.backward()
    return loss.detach()


STEPS: Dict[str, Callable[..., torch.Tensor]] = {
    "full": full_step,
    "full_inplace": partial(full_step, inplace_grad=True),
    "pruned": pruned_step,
    "pruned_unchecked": pruned_step_unchecked,
    # icefall's pruned-transducer recipes: the smoothed loss with
    # lm_only_scale 0.25, am_only_scale 0 in place of the simple one.
    "pruned_smoothed": partial(pruned_step, smoothing=(0.25, 0.0)),
    "plain_full": partial(full_step, ops=plain_rnnt),
    "plain_pruned": partial(pruned_step, ops=plain_rnnt),
    "torchaudio": torchaudio_step,
}
PRUNED_STEPS = {"pruned", "pruned_unchecked", "pruned_smoothed", "plain_pruned"}  # the steps that take s_range

LABELS = {
    "full": "rnnt_ops rnnt_loss (full)",
    "full_inplace": "rnnt_ops rnnt_loss (full, inplace_grad=True)",
    "pruned": "rnnt_ops pruned (0.5*simple + pruned, s_range 5)",
    "pruned_unchecked": "rnnt_ops pruned, value checks off",
    "pruned_smoothed": "rnnt_ops pruned, smoothed simple loss (0.25, 0)",
    "plain_full": "plain PyTorch full loss",
    "plain_pruned": "plain PyTorch pruned (0.5*simple + pruned, s_range 5)",
    "torchaudio": "torchaudio.functional.rnnt_loss",
}


def full_logits_gib(shapes: List[Tuple[int, int]], vocab_size: int, itemsize: int = 4) -> float:
    """Size of one padded ``[B][T][U+1][C]`` logits tensor, in GiB."""
    B = len(shapes)
    T = max(t for t, _ in shapes)
    U = max(u for _, u in shapes)
    return B * T * (U + 1) * vocab_size * itemsize / 2**30
