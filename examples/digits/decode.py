"""Greedy transducer decoding (RNN-T and TDT) and the digit error rate."""

from typing import List, Sequence, Tuple

import torch
from torch import Tensor

from corpus import ids_to_text
from model import BLANK, Transducer


@torch.no_grad()
def greedy_search(model: Transducer, feats: Tensor, feat_lens: Tensor, max_sym_per_frame: int = 3) -> List[str]:
    """Batched greedy search: at each encoder frame, emit the best non-blank
    symbol (and stay on the frame, up to ``max_sym_per_frame`` times) until
    blank is best. Returns one digit string per utterance."""
    enc, enc_lens = model.encoder(feats, feat_lens)
    enc = model.joiner.encoder_proj(enc)
    B, T, _ = enc.shape
    ctx = model.decoder.context_size
    history = torch.full((B, ctx), BLANK, dtype=torch.int64, device=feats.device)
    hyps: List[List[int]] = [[] for _ in range(B)]
    for t in range(T):
        active = t < enc_lens  # [B]
        for _ in range(max_sym_per_frame):
            dec = model.joiner.decoder_proj(model.decoder(history)[:, -1])  # [B][dim]
            best = model.joiner(enc[:, t], dec, project=False).argmax(dim=-1)  # [B]
            emit = active & (best != BLANK)
            if not bool(emit.any()):
                break
            new = torch.where(emit, best, history[:, -1])
            history = torch.where(emit[:, None], torch.cat([history[:, 1:], new[:, None]], dim=1), history)
            for b in emit.nonzero().flatten().tolist():
                hyps[b].append(int(best[b]))
            active = emit
    return [ids_to_text(h) for h in hyps]


@torch.no_grad()
def greedy_search_tdt(model: Transducer, feats: Tensor, feat_lens: Tensor,
                      max_sym_per_frame: int = 3) -> Tuple[List[str], Tensor, Tensor]:
    """Batched greedy token-and-duration search. At frame t the joiner gives
    the best label and the best duration d (over ``model.durations``): a
    symbol is emitted and the search moves to frame t + d (d = 0 stays on
    the frame); a blank moves to t + max(d, 1), since a blank must advance.
    After ``max_sym_per_frame`` symbols on one frame the search also moves
    by at least one frame. The frames jumped over are never evaluated.

    Returns (digit strings, frames visited [B], encoder frames [B]): a frame
    is visited when the joiner is evaluated on it at least once; the RNN-T
    greedy search visits every encoder frame."""
    enc, enc_lens = model.encoder(feats, feat_lens)
    enc = model.joiner.encoder_proj(enc)
    B, T, _ = enc.shape
    durations = torch.tensor(model.durations, dtype=torch.int64, device=feats.device)
    rows = torch.arange(B, device=feats.device)
    ctx = model.decoder.context_size
    history = torch.full((B, ctx), BLANK, dtype=torch.int64, device=feats.device)
    t = torch.zeros(B, dtype=torch.int64, device=feats.device)
    on_frame = torch.zeros_like(t)  # symbols emitted on the current frame
    visited = torch.zeros_like(t)
    hyps: List[List[int]] = [[] for _ in range(B)]
    active = t < enc_lens
    while bool(active.any()):
        dec = model.joiner.decoder_proj(model.decoder(history)[:, -1])  # [B][dim]
        frame = enc[rows, t.clamp(max=T - 1)]  # [B][dim]
        logits, duration_logits = model.joiner.with_durations(frame, dec, project=False)
        best = logits.argmax(dim=-1)
        skip = durations[duration_logits.argmax(dim=-1)]
        visited += (active & (on_frame == 0)).long()
        emit = active & (best != BLANK)
        on_frame = on_frame + emit.long()
        must_move = ~emit | (on_frame >= max_sym_per_frame)
        skip = torch.where(must_move, skip.clamp(min=1), skip) * active.long()
        t = t + skip
        on_frame = torch.where(skip > 0, torch.zeros_like(on_frame), on_frame)
        new = torch.where(emit, best, history[:, -1])
        history = torch.where(emit[:, None], torch.cat([history[:, 1:], new[:, None]], dim=1), history)
        for b in emit.nonzero().flatten().tolist():
            hyps[b].append(int(best[b]))
        active = t < enc_lens
    return [ids_to_text(h) for h in hyps], visited, enc_lens


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def error_counts(refs: Sequence[str], hyps: Sequence[str]) -> Tuple[int, int]:
    """(edit distance summed over utterances, total reference digits)."""
    return sum(edit_distance(r, h) for r, h in zip(refs, hyps)), sum(len(r) for r in refs)
