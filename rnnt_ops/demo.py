"""``python -m rnnt_ops.demo``: train a tiny transducer with the pruned
RNN-T loss on CPU and print the losses.

The model is the usual pruned-RNN-T setup in miniature: an encoder (linear
over the input features), a stateless decoder (embedding of the previous
symbol), simple-loss projections of both to the vocabulary, and a non-linear
joiner that only runs inside the pruning windows. The loss is
``0.5 * simple + pruned``. The data are a fixed synthetic set: each frame's
features are a noisy code of the symbol being spoken around then, so the
model has something real to learn.

``--autocast bfloat16`` (or float16) runs the model's forward under
``torch.autocast``: the linear layers, hence ``am``, ``lm`` and the joiner's
logits, come out in that dtype, and the losses take them as they are,
accumulating in float32.
"""

import argparse
import contextlib
from typing import Dict, List, Optional

import torch
from torch import nn

import rnnt_ops

BLANK = 0


class TinyTransducer(nn.Module):
    """Encoder, stateless decoder, simple-loss projections and a tanh joiner
    over ``dim`` features; ``vocab_size`` classes, blank 0."""

    def __init__(self, num_features: int, vocab_size: int, dim: int = 64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(num_features, dim), nn.Tanh(), nn.Linear(dim, dim))
        self.decoder = nn.Embedding(vocab_size, dim)
        self.simple_am_proj = nn.Linear(dim, vocab_size)
        self.simple_lm_proj = nn.Linear(dim, vocab_size)
        self.joiner_encoder_proj = nn.Linear(dim, dim)
        self.joiner_decoder_proj = nn.Linear(dim, dim)
        self.joiner_output = nn.Linear(dim, vocab_size)

    def forward(self, features, symbols, boundary, s_range: int = 3):
        """``features [B][T][num_features]``, ``symbols`` int64 ``[B][S]``,
        ``boundary`` int64 ``[B][4]``; returns ``(simple_loss, pruned_loss)``,
        each summed over the batch (scalars)."""
        B = symbols.shape[0]
        encoder_out = self.encoder(features)  # [B][T][dim]
        # Stateless decoder: position s sees the previous symbol (blank first).
        history = torch.cat([symbols.new_full((B, 1), BLANK), symbols], dim=1)
        decoder_out = self.decoder(history)  # [B][S+1][dim]

        simple_loss, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
            lm=self.simple_lm_proj(decoder_out),
            am=self.simple_am_proj(encoder_out),
            symbols=symbols,
            termination_symbol=BLANK,
            boundary=boundary,
            reduction="sum",
            return_grad=True,
        )
        ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
        am_pruned, lm_pruned = rnnt_ops.do_rnnt_pruning(
            am=self.joiner_encoder_proj(encoder_out),
            lm=self.joiner_decoder_proj(decoder_out),
            ranges=ranges,
        )
        logits = self.joiner_output(torch.tanh(am_pruned + lm_pruned))  # [B][T][s_range][V]
        pruned_loss = rnnt_ops.rnnt_loss_pruned(
            logits, symbols, ranges, BLANK, boundary, reduction="sum"
        )
        return simple_loss, pruned_loss


def synthetic_batch(batch: int = 8, vocab_size: int = 12, num_features: int = 24, seed: int = 0):
    """Ragged utterances: S in [3, 8] symbols, T in [3S, 3S+10] frames; frame
    t carries a fixed random code of the symbol aligned to it, plus noise.
    Returns ``(features [B][T][num_features], symbols int64 [B][S], boundary
    int64 [B][4])``, padded to the longest item."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.randn(vocab_size, num_features, generator=g)
    lengths_s = torch.randint(3, 9, (batch,), generator=g)
    lengths_t = lengths_s * 3 + torch.randint(0, 11, (batch,), generator=g)
    S, T = int(lengths_s.max()), int(lengths_t.max())
    symbols = torch.zeros(batch, S, dtype=torch.int64)
    features = torch.zeros(batch, T, num_features)
    for b in range(batch):
        s_len, t_len = int(lengths_s[b]), int(lengths_t[b])
        symbols[b, :s_len] = torch.randint(1, vocab_size, (s_len,), generator=g)
        aligned = (torch.arange(t_len) * s_len) // t_len  # uniform alignment
        features[b, :t_len] = codes[symbols[b, aligned]] + 0.3 * torch.randn(t_len, num_features, generator=g)
    boundary = torch.stack(
        [torch.zeros(batch, dtype=torch.int64), torch.zeros(batch, dtype=torch.int64), lengths_s, lengths_t], dim=1
    )
    return features, symbols, boundary


def train(
    steps: int = 100, log_every: int = 10, seed: int = 0,
    autocast_dtype: Optional[torch.dtype] = None,
) -> List[Dict[str, float]]:
    """Train :class:`TinyTransducer` for ``steps`` Adam steps on
    :func:`synthetic_batch` (printing every ``log_every`` steps), the forward
    under ``torch.autocast`` when ``autocast_dtype`` is given. Returns one
    record per step: ``{"step", "simple", "pruned"}``, losses per utterance."""
    torch.manual_seed(seed)
    features, symbols, boundary = synthetic_batch(seed=seed)
    model = TinyTransducer(features.shape[-1], vocab_size=12)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    num_items = symbols.shape[0]
    history = []
    for step in range(1, steps + 1):
        autocast = (torch.autocast("cpu", dtype=autocast_dtype) if autocast_dtype is not None
                    else contextlib.nullcontext())
        with autocast:
            simple_loss, pruned_loss = model(features, symbols, boundary)
        loss = 0.5 * simple_loss + pruned_loss
        optimizer.zero_grad()
        (loss / num_items).backward()
        optimizer.step()
        record = {
            "step": step,
            "simple": simple_loss.item() / num_items,
            "pruned": pruned_loss.item() / num_items,
        }
        history.append(record)
        if step == 1 or step % log_every == 0:
            print(
                f"step {step:4d}  simple loss {record['simple']:8.3f}  "
                f"pruned loss {record['pruned']:8.3f}  (per utterance)",
                flush=True,
            )
    return history


def main() -> None:
    """The command line: ``--steps``, ``--autocast bfloat16|float16``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--autocast", choices=["bfloat16", "float16"], default=None,
                        help="run the forward under torch.autocast with this dtype")
    args = parser.parse_args()
    history = train(args.steps, autocast_dtype=getattr(torch, args.autocast) if args.autocast else None)
    first, last = history[0], history[-1]
    print(
        f"pruned loss {first['pruned']:.3f} -> {last['pruned']:.3f}, "
        f"simple loss {first['simple']:.3f} -> {last['simple']:.3f}"
    )


if __name__ == "__main__":
    main()
