"""The miniature pruned-RNN-T model of the portability tests (torch.compile,
TorchScript, the LibTorch example): encoder/decoder stand-ins, simple-loss
projections and a non-linear joiner, with the parameter names that
examples/libtorch/train.cpp uses."""

from typing import Tuple

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
