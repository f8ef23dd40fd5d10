"""A small transducer: conv subsampling + BiLSTM encoder, stateless decoder,
joiner; trained with the pruned RNN-T loss (or the full one, for timing), or
as a token-and-duration transducer (TDT) with a duration head on the joiner,
with the full TDT loss or the pruned one.

Token 0 is blank, tokens 1..10 are the digits 0..9.
"""

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

import rnnt_ops

BLANK = 0
VOCAB_SIZE = 11


class Conv2dSubsampling(nn.Module):
    """Two 3x3 stride-2 convolutions: T frames -> ((T - 1) // 2 - 1) // 2."""

    def __init__(self, num_features: int, out_dim: int, channels: int = 32):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=2), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2), nn.ReLU(),
        )
        freq = ((num_features - 1) // 2 - 1) // 2
        self.out = nn.Linear(channels * freq, out_dim)

    def forward(self, x: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        x = self.conv(x.unsqueeze(1))  # [B][C][T'][F']
        b, c, t, f = x.shape
        x = self.out(x.transpose(1, 2).reshape(b, t, c * f))
        return x, self.output_lengths(lengths)

    @staticmethod
    def output_lengths(lengths: Tensor) -> Tensor:
        return ((lengths - 1) // 2 - 1) // 2


class Encoder(nn.Module):
    def __init__(self, num_features: int = 80, dim: int = 256, num_layers: int = 2):
        super().__init__()
        self.subsampling = Conv2dSubsampling(num_features, dim)
        self.lstm = nn.LSTM(dim, dim // 2, num_layers=num_layers, batch_first=True,
                            bidirectional=True, dropout=0.1 if num_layers > 1 else 0.0)

    def forward(self, x: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        x, lengths = self.subsampling(x, lengths)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out, lengths


class StatelessDecoder(nn.Module):
    """Embedding of the last ``context_size`` symbols (blank-padded on the left),
    mixed by a depthwise 1-D convolution, as in icefall's stateless decoder."""

    def __init__(self, vocab_size: int, dim: int, context_size: int = 2):
        super().__init__()
        self.context_size = context_size
        self.embedding = nn.Embedding(vocab_size, dim)
        self.conv = nn.Conv1d(dim, dim, context_size, groups=dim, bias=False)

    def forward(self, history: Tensor) -> Tensor:
        """history: [B][U] symbols, left-padded with at least context_size - 1
        blanks; returns [B][U - context_size + 1][dim]."""
        x = self.embedding(history).transpose(1, 2)
        return torch.relu(self.conv(x).transpose(1, 2))


class Joiner(nn.Module):
    """``output(tanh(enc + dec))``; with ``num_durations > 0`` also a TDT
    duration head on the same hidden vector (``with_durations()``)."""

    def __init__(self, dim: int, vocab_size: int, num_durations: int = 0):
        super().__init__()
        self.encoder_proj = nn.Linear(dim, dim)
        self.decoder_proj = nn.Linear(dim, dim)
        self.output = nn.Linear(dim, vocab_size)
        self.duration_output = nn.Linear(dim, num_durations) if num_durations > 0 else None

    def hidden(self, enc: Tensor, dec: Tensor, project: bool = True) -> Tensor:
        if project:
            enc, dec = self.encoder_proj(enc), self.decoder_proj(dec)
        return torch.tanh(enc + dec)

    def forward(self, enc: Tensor, dec: Tensor, project: bool = True) -> Tensor:
        return self.output(self.hidden(enc, dec, project))

    def with_durations(self, enc: Tensor, dec: Tensor, project: bool = True) -> Tuple[Tensor, Tensor]:
        """(label logits [..][V], duration logits [..][D])."""
        if self.duration_output is None:
            raise ValueError("Joiner.with_durations: this joiner has no duration head (num_durations=0)")
        h = self.hidden(enc, dec, project)
        return self.output(h), self.duration_output(h)


class Transducer(nn.Module):
    """``durations``: the TDT durations (e.g. ``[0, 1, 2, 3, 4]``); when given,
    the joiner gets a duration head with one logit per duration, and the
    simple loss small duration projections (for the pruned TDT loss)."""

    def __init__(self, num_features: int = 80, dim: int = 256, vocab_size: int = VOCAB_SIZE,
                 num_layers: int = 2, context_size: int = 2, durations: Optional[List[int]] = None):
        super().__init__()
        self.durations = list(durations or [])
        self.encoder = Encoder(num_features, dim, num_layers)
        self.decoder = StatelessDecoder(vocab_size, dim, context_size)
        self.joiner = Joiner(dim, vocab_size, len(self.durations))
        self.simple_am_proj = nn.Linear(dim, vocab_size)
        self.simple_lm_proj = nn.Linear(dim, vocab_size)
        # Created last, so the other parameters start as without durations.
        num_durations = len(self.durations)
        self.simple_am_duration_proj = nn.Linear(dim, num_durations) if num_durations else None
        self.simple_lm_duration_proj = nn.Linear(dim, num_durations) if num_durations else None

    def decoder_history(self, symbols: Tensor) -> Tensor:
        pad = symbols.new_full((symbols.shape[0], self.decoder.context_size), BLANK)
        return torch.cat([pad, symbols], dim=1)

    def forward(self, feats: Tensor, feat_lens: Tensor, symbols: Tensor, symbol_lens: Tensor,
                loss: str = "pruned", s_range: int = 5, tdt_sigma: float = 0.0,
                tdt_omega: float = 0.0, fused: bool = False) -> Tuple[Tensor, Tensor]:
        """Returns (simple_loss, pruned_loss), both summed over the batch.
        With loss="full" the second is the full RNN-T loss and the first is 0;
        with loss="tdt" it is the TDT loss (``sigma``, ``omega`` as in
        ``rnnt_ops.rnnt_loss_tdt``) and the first is 0; with
        loss="pruned_tdt" they are the simple and pruned TDT losses.
        ``fused``: the same losses with the joiner fused into them
        (``rnnt_ops.rnnt_loss_fused``, ``rnnt_loss_pruned_fused``,
        ``rnnt_loss_tdt_fused``: the logits are never formed); not for
        loss="pruned_tdt"."""
        enc, enc_lens = self.encoder(feats, feat_lens)  # [B][T][dim]
        dec = self.decoder(self.decoder_history(symbols))  # [B][S+1][dim]
        zeros = torch.zeros_like(enc_lens)
        boundary = torch.stack([zeros, zeros, symbol_lens, enc_lens], dim=1).to(torch.int64)

        if fused:
            return self.fused_losses(enc, dec, symbols, boundary, loss, s_range, tdt_sigma, tdt_omega)
        if loss == "full":
            logits = self.joiner(enc.unsqueeze(2), dec.unsqueeze(1))  # [B][T][S+1][V]
            full = rnnt_ops.rnnt_loss(logits, symbols, BLANK, boundary, reduction="sum")
            return full.new_zeros(()), full
        if loss == "tdt":
            logits, duration_logits = self.joiner.with_durations(enc.unsqueeze(2), dec.unsqueeze(1))
            tdt = rnnt_ops.rnnt_loss_tdt(logits, duration_logits, symbols, BLANK, self.durations, boundary,
                                         sigma=tdt_sigma, omega=tdt_omega, reduction="sum")
            return tdt.new_zeros(()), tdt
        if loss == "pruned_tdt":
            return self.pruned_tdt_losses(enc, dec, symbols, boundary, s_range, tdt_sigma, tdt_omega)
        if loss != "pruned":
            raise ValueError(f"Transducer.forward: loss must be pruned, full, tdt or pruned_tdt, got {loss!r}")

        simple, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
            lm=self.simple_lm_proj(dec), am=self.simple_am_proj(enc), symbols=symbols,
            termination_symbol=BLANK, boundary=boundary, reduction="sum", return_grad=True,
        )
        am_pruned, lm_pruned, ranges = self.prune(enc, dec, px_grad, py_grad, boundary, s_range)
        logits = self.joiner(am_pruned, lm_pruned, project=False)  # [B][T][s_range][V]
        pruned = rnnt_ops.rnnt_loss_pruned(logits, symbols, ranges, BLANK, boundary, reduction="sum")
        return simple, pruned

    def fused_losses(self, enc: Tensor, dec: Tensor, symbols: Tensor, boundary: Tensor, loss: str,
                     s_range: int, sigma: float, omega: float) -> Tuple[Tensor, Tensor]:
        """forward's losses with the joiner (its projections' outputs, tanh,
        output layer and duration head) fused into the loss."""
        j = self.joiner
        am, lm = j.encoder_proj(enc), j.decoder_proj(dec)
        if loss == "full":
            full = rnnt_ops.rnnt_loss_fused(am, lm, j.output.weight, j.output.bias, symbols, BLANK,
                                            boundary, reduction="sum")
            return full.new_zeros(()), full
        if loss == "tdt":
            if j.duration_output is None:
                raise ValueError("Transducer.forward: loss='tdt' needs a model built with durations")
            tdt = rnnt_ops.rnnt_loss_tdt_fused(
                am, lm, j.output.weight, j.output.bias, j.duration_output.weight, j.duration_output.bias,
                symbols, BLANK, self.durations, boundary, sigma=sigma, omega=omega,
                reduction="sum")
            return tdt.new_zeros(()), tdt
        if loss != "pruned":
            raise ValueError(f"Transducer.forward: fused=True takes loss pruned, full or tdt, got {loss!r}")
        simple, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
            lm=self.simple_lm_proj(dec), am=self.simple_am_proj(enc), symbols=symbols,
            termination_symbol=BLANK, boundary=boundary, reduction="sum", return_grad=True,
        )
        ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
        pruned = rnnt_ops.rnnt_loss_pruned_fused(am, lm, ranges, j.output.weight, j.output.bias, symbols,
                                                 BLANK, boundary, reduction="sum")
        return simple, pruned

    def prune(self, enc: Tensor, dec: Tensor, px_grad: Tensor, py_grad: Tensor, boundary: Tensor,
              s_range: int) -> Tuple[Tensor, Tensor, Tensor]:
        """The joiner's projected inputs in the windows the simple loss's
        occupation grads pick: ([B][T][s_range][dim] twice, ranges)."""
        ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
        am_pruned, lm_pruned = rnnt_ops.do_rnnt_pruning(
            am=self.joiner.encoder_proj(enc), lm=self.joiner.decoder_proj(dec), ranges=ranges)
        return am_pruned, lm_pruned, ranges

    def pruned_tdt_losses(self, enc: Tensor, dec: Tensor, symbols: Tensor, boundary: Tensor, s_range: int,
                          sigma: float, omega: float) -> Tuple[Tensor, Tensor]:
        """(simple TDT loss of the label and duration projections ``am + lm``,
        TDT loss of the joiner's label and duration heads in its windows)."""
        if self.simple_am_duration_proj is None or self.simple_lm_duration_proj is None:
            raise ValueError("Transducer.forward: loss='pruned_tdt' needs a model built with durations")
        simple, (px_grad, py_grad) = rnnt_ops.rnnt_loss_tdt_simple(
            self.simple_lm_proj(dec), self.simple_am_proj(enc), self.simple_lm_duration_proj(dec),
            self.simple_am_duration_proj(enc), symbols, BLANK, self.durations, boundary,
            sigma=sigma, omega=omega, reduction="sum", return_grad=True)
        am_pruned, lm_pruned, ranges = self.prune(enc, dec, px_grad, py_grad, boundary, s_range)
        logits, duration_logits = self.joiner.with_durations(am_pruned, lm_pruned, project=False)
        pruned = rnnt_ops.rnnt_loss_tdt_pruned(logits, duration_logits, symbols, ranges, BLANK, self.durations,
                                               boundary, sigma=sigma, omega=omega, reduction="sum")
        return simple, pruned
