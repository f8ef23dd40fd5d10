"""Greedy transducer decoding and the digit error rate."""

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
