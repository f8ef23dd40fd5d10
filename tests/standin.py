"""The miniature pruned-RNN-T model of the portability tests (torch.compile,
TorchScript, the LibTorch example): encoder/decoder stand-ins, simple-loss
projections and a non-linear joiner, with the parameter names that
examples/libtorch/train.cpp uses."""

from typing import Optional, Tuple

import torch
from torch import Tensor, nn


class StandInTransducer(nn.Module):
    def __init__(self, features: int, vocab: int, dim: int, blank: int = 0):
        super().__init__()
        self.blank = blank
        self.encoder = nn.Linear(features, dim)
        self.decoder = nn.Embedding(vocab, dim)
        self.simple_am_proj = nn.Linear(dim, vocab)
        self.simple_lm_proj = nn.Linear(dim, vocab)
        self.joiner_encoder_proj = nn.Linear(dim, dim)
        self.joiner_decoder_proj = nn.Linear(dim, dim)
        self.joiner_output = nn.Linear(dim, vocab)

    def encode(self, features: Tensor, symbols: Tensor) -> Tuple[Tensor, Tensor]:
        """(encoder_out [B][T][dim], decoder_out [B][S+1][dim]); the stateless
        decoder sees the previous symbol, blank first."""
        encoder_out = torch.tanh(self.encoder(features))
        history = torch.cat([symbols.new_full((symbols.size(0), 1), self.blank), symbols], dim=1)
        return encoder_out, self.decoder(history)

    def joiner(self, am: Tensor, lm: Tensor) -> Tensor:
        return self.joiner_output(torch.tanh(am + lm))


BLANK = 0
VOCAB = 6
FEATURES = 4
DIM = 8
S_RANGE = 3


class ScriptableTransducerLoss(StandInTransducer):
    """Encoder/decoder stand-ins and a joiner; forward returns
    (0.5 * simple + pruned, simple, pruned, full), all reduction='sum'."""

    def __init__(self):
        super().__init__(FEATURES, VOCAB, DIM, BLANK)
        # A module attribute, not a global: TorchScript cannot close over globals.
        self.s_range = S_RANGE

    def forward(
        self, features: Tensor, symbols: Tensor, boundary: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        encoder_out, decoder_out = self.encode(features, symbols)
        simple, px_grad, py_grad = torch.ops.rnnt.rnnt_loss_simple_with_grad(
            self.simple_lm_proj(decoder_out),
            self.simple_am_proj(encoder_out),
            symbols,
            self.blank,
            boundary,
            "regular",
            0.0,
            "sum",
        )
        ranges = torch.ops.rnnt.get_rnnt_prune_ranges(px_grad, py_grad, boundary, self.s_range)
        am_pruned, lm_pruned = torch.ops.rnnt.do_rnnt_pruning(
            self.joiner_encoder_proj(encoder_out), self.joiner_decoder_proj(decoder_out), ranges
        )
        logits = self.joiner_output(torch.tanh(am_pruned + lm_pruned))
        # Schema defaults fill rnnt_type, delay_penalty and use_hat_loss.
        pruned = torch.ops.rnnt.rnnt_loss_pruned(logits, symbols, ranges, self.blank, boundary, reduction="sum")
        full_logits = self.joiner_output(
            torch.tanh(
                self.joiner_encoder_proj(encoder_out).unsqueeze(2)
                + self.joiner_decoder_proj(decoder_out).unsqueeze(1)
            )
        )
        full = torch.ops.rnnt.rnnt_loss(full_logits, symbols, self.blank, boundary, reduction="sum")
        return 0.5 * simple + pruned, simple, pruned, full


def scriptable_inputs(dtype):
    """Inputs of ScriptableTransducerLoss: features, symbols, boundary."""
    g = torch.Generator().manual_seed(1)
    B, T, S = 3, 10, 4
    features = torch.randn(B, T, FEATURES, generator=g, dtype=dtype)
    symbols = torch.randint(1, VOCAB, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, S, T], [0, 0, S - 1, T - 2], [0, 0, 2, T - 4]])
    return {"features": features, "symbols": symbols, "boundary": boundary}
