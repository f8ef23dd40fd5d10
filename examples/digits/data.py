"""Batching: length-sorted buckets, per-utterance feature normalization, and
the split of each global batch across DDP ranks."""

import random
from typing import Dict, Iterator, List, Tuple

import torch
from torch import Tensor

from corpus import token_ids


def collate(split: Dict[str, list], indices: List[int], device) -> Tuple[Tensor, Tensor, Tensor, Tensor, List[str]]:
    """(feats [B][T][80], feat_lens [B], symbols [B][S], symbol_lens [B], texts)."""
    feats = []
    for i in indices:
        f = split["feats"][i].float()
        feats.append((f - f.mean(dim=0)) / (f.std(dim=0) + 1e-5))  # per-utterance CMVN
    texts = [split["texts"][i] for i in indices]
    feat_lens = torch.tensor([f.shape[0] for f in feats])
    symbol_lens = torch.tensor([len(t) for t in texts])
    padded = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    symbols = torch.zeros(len(texts), int(symbol_lens.max()), dtype=torch.int64)
    for b, t in enumerate(texts):
        symbols[b, : len(t)] = torch.tensor(token_ids(t))
    return padded.to(device), feat_lens.to(device), symbols.to(device), symbol_lens.to(device), texts


def global_batches(split: Dict[str, list], batch_size: int, seed: int, epoch: int) -> List[List[int]]:
    """Shuffle, sort by length within pools of 20 batches (less padding), cut
    into batches of ``batch_size`` utterances, shuffle the batches. Identical
    on every rank (same seed and epoch)."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(len(split["feats"])))
    rng.shuffle(order)
    pool = 20 * batch_size
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: split["feats"][i].shape[0])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def rank_batches(split, batch_size: int, seed: int, epoch: int, rank: int, world_size: int) -> Iterator[Tuple[List[int], int]]:
    """This rank's share of each global batch, with the global batch size.
    Every rank gets the same number of steps (batches too small to give each
    rank an utterance are dropped)."""
    for batch in global_batches(split, batch_size, seed, epoch):
        if len(batch) >= world_size:
            yield batch[rank::world_size], len(batch)
