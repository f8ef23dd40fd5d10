"""Independent plain-PyTorch references for the tests (float64 loops).

Nothing here calls rnnt_ops: these are the ground truth the ops are checked
against, written straight from the recursion's definition.
"""

import itertools
import math
from typing import List, Optional, Sequence

import torch

NEG_INF = float("-inf")


def default_boundary(B: int, S: int, T: int) -> torch.Tensor:
    return torch.tensor([[0, 0, S, T]] * B, dtype=torch.int64)


def recursion_reference(
    px: torch.Tensor, py: torch.Tensor, boundary: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """p[s,t] = logaddexp(p[s-1,t] + px[s-1,t], p[s,t-1] + py[s,t-1]) (regular)
    or with p[s-1,t-1] + px[s-1,t-1] (modified), over each item's box.
    Differentiable by autograd; returns p[s_end, t_end] per item."""
    B, S, T1 = px.shape
    T = py.shape[2]
    modified = T1 == T
    if boundary is None:
        boundary = default_boundary(B, S, T)
    scores = []
    for b in range(B):
        sb, tb, se, te = (int(v) for v in boundary[b])
        p = {}
        for s in range(sb, se + 1):
            for t in range(tb, te + 1):
                if s == sb and t == tb:
                    p[s, t] = px.new_zeros(())
                    continue
                terms = []
                if s > sb:
                    if not modified:
                        terms.append(p[s - 1, t] + px[b, s - 1, t])
                    elif t > tb:
                        terms.append(p[s - 1, t - 1] + px[b, s - 1, t - 1])
                if t > tb:
                    terms.append(p[s, t - 1] + py[b, s, t - 1])
                # Unreachable terms (-inf) are dropped so that their zero
                # contribution does not become a NaN gradient in logsumexp.
                terms = [x for x in terms if float(x.detach()) != NEG_INF]
                p[s, t] = (
                    torch.logsumexp(torch.stack(terms), dim=0)
                    if terms
                    else px.new_tensor(NEG_INF)
                )
        scores.append(p[se, te])
    return torch.stack(scores)


def _paths(s: int, t: int, se: int, te: int, modified: bool):
    """Every monotone move sequence from (s, t) to (se, te): 'x' = symbol,
    'y' = blank."""
    if s == se and t == te:
        yield []
        return
    if s < se and (not modified or t < te):
        for rest in _paths(s + 1, t + (1 if modified else 0), se, te, modified):
            yield [("x", s, t)] + rest
    if t < te:
        for rest in _paths(s, t + 1, se, te, modified):
            yield [("y", s, t)] + rest


def recursion_by_enumeration(
    px: torch.Tensor, py: torch.Tensor, boundary: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """log sum over every path of exp(sum of its arc weights); tiny sizes."""
    B, S, T1 = px.shape
    T = py.shape[2]
    modified = T1 == T
    if boundary is None:
        boundary = default_boundary(B, S, T)
    out = []
    for b in range(B):
        sb, tb, se, te = (int(v) for v in boundary[b])
        scores = []
        for path in _paths(sb, tb, se, te, modified):
            total = 0.0
            for kind, s, t in path:
                total += float(px[b, s, t] if kind == "x" else py[b, s, t])
            scores.append(total)
        if not scores:
            out.append(NEG_INF)
        else:
            m = max(scores)
            out.append(
                m if m == NEG_INF else m + math.log(sum(math.exp(x - m) for x in scores))
            )
    return torch.tensor(out, dtype=torch.float64)


def random_boundary(
    B: int, S: int, T: int, generator: torch.Generator, with_begin: bool = True,
    modified: bool = False,
) -> torch.Tensor:
    """Ragged boxes inside [0, S] x [0, T]; with modified=True every box has a
    path (s_end - s_begin <= t_end - t_begin)."""
    rows = []
    for _ in range(B):
        while True:
            sb = int(torch.randint(0, S // 2 + 1, (1,), generator=generator)) if with_begin else 0
            tb = int(torch.randint(0, T // 2 + 1, (1,), generator=generator)) if with_begin else 0
            se = int(torch.randint(sb, S + 1, (1,), generator=generator))
            te = int(torch.randint(tb, T + 1, (1,), generator=generator))
            if not modified or se - sb <= te - tb:
                break
        rows.append([sb, tb, se, te])
    return torch.tensor(rows, dtype=torch.int64)
