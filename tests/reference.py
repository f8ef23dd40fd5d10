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


def expected_terms_by_enumeration(
    px_terms, py_terms, boundary: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """[N][B]: for each term i, the expected sum of px_terms[i]/py_terms[i]
    along a path, paths weighted by their posterior under the summed terms;
    tiny sizes."""
    px_sum, py_sum = sum(px_terms), sum(py_terms)
    B, S, T1 = px_sum.shape
    T = py_sum.shape[2]
    modified = T1 == T
    if boundary is None:
        boundary = default_boundary(B, S, T)
    out = torch.zeros(len(px_terms), B, dtype=torch.float64)
    for b in range(B):
        sb, tb, se, te = (int(v) for v in boundary[b])
        paths = list(_paths(sb, tb, se, te, modified))
        def arc_sum(path, x, y):
            return sum(float(x[b, s, t] if kind == "x" else y[b, s, t]) for kind, s, t in path)
        scores = torch.tensor([arc_sum(path, px_sum, py_sum) for path in paths], dtype=torch.float64)
        weights = scores.softmax(0)
        for i, (x, y) in enumerate(zip(px_terms, py_terms)):
            sums = torch.tensor([arc_sum(path, x, y) for path in paths], dtype=torch.float64)
            out[i, b] = (weights * sums).sum()
    return out


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


# --------------------------------------------------------------------------
# Losses, from the definitions: every lattice arc scored from normalised
# log-probs logp [B][T][S+1][C] (the joiner's log-softmax at frame t after s
# emitted symbols), then the recursion above.


def lattice_from_logp(
    logp: torch.Tensor,
    symbols: torch.Tensor,
    blank: int,
    rnnt_type: str = "regular",
    boundary: Optional[torch.Tensor] = None,
    delay_penalty: float = 0.0,
):
    """(px, py) arc by arc: py[b,s,t] = logp[b,t,s,blank]; px[b,s,t] =
    logp[b,t,s,symbols[b,s]] (+ logp[b,t,s+1,blank] if constrained)
    + delay_penalty * ((t_end - 1) / 2 - t); regular px has -inf columns T
    and t_end. Built with torch.stack so autograd differentiates it."""
    B, T, S1, C = logp.shape
    S = S1 - 1
    if boundary is None:
        boundary = default_boundary(B, S, T)
    width = T + 1 if rnnt_type == "regular" else T
    neg_inf = logp.new_tensor(NEG_INF)
    px_items, py_items = [], []
    for b in range(B):
        t_end = int(boundary[b, 3])
        penalty = lambda t: delay_penalty * ((t_end - 1) / 2 - t) if delay_penalty > 0 else 0.0
        px_rows = []
        for s in range(S):
            row = []
            for t in range(width):
                if t == T or (rnnt_type == "regular" and t == t_end):
                    row.append(neg_inf)
                    continue
                arc = logp[b, t, s, int(symbols[b, s])] + penalty(t)
                if rnnt_type == "constrained":
                    arc = arc + logp[b, t, s + 1, blank]
                row.append(arc)
            px_rows.append(torch.stack(row))
        px_items.append(torch.stack(px_rows) if px_rows else logp.new_zeros(0, width))
        py_items.append(torch.stack([logp[b, :, s, blank] for s in range(S + 1)]))
    return torch.stack(px_items), torch.stack(py_items)


def loss_reference(logp, symbols, blank, rnnt_type="regular", boundary=None, delay_penalty=0.0):
    """Per-item RNN-T loss [B] from normalised log-probs [B][T][S+1][C]."""
    px, py = lattice_from_logp(logp, symbols, blank, rnnt_type, boundary, delay_penalty)
    return -recursion_reference(px, py, boundary)


def loss_by_enumeration(logp, symbols, blank, rnnt_type="regular", boundary=None, delay_penalty=0.0):
    """-log sum over every alignment of its probability, each alignment
    scored emission by emission (tiny sizes only)."""
    B, T, S1, C = logp.shape
    S = S1 - 1
    if boundary is None:
        boundary = default_boundary(B, S, T)
    modified = rnnt_type != "regular"
    out = []
    for b in range(B):
        sb, tb, se, te = (int(v) for v in boundary[b])
        scores = []
        for path in _paths(sb, tb, se, te, modified):
            total = 0.0
            for kind, s, t in path:
                if kind == "y":
                    total += float(logp[b, t, s, blank])
                    continue
                if not modified and t == te:  # no symbol on the final frame
                    total = NEG_INF
                    break
                total += float(logp[b, t, s, int(symbols[b, s])])
                if rnnt_type == "constrained":
                    total += float(logp[b, t, s + 1, blank])
                if delay_penalty > 0:
                    total += delay_penalty * ((te - 1) / 2 - t)
            scores.append(total)
        finite = [x for x in scores if x != NEG_INF]
        if not finite:
            out.append(float("inf"))
            continue
        m = max(finite)
        out.append(-(m + math.log(sum(math.exp(x - m) for x in finite))))
    return torch.tensor(out, dtype=torch.float64)


def pruned_logp_to_full(logp_pruned: torch.Tensor, ranges: torch.Tensor, S: int) -> torch.Tensor:
    """Scatter pruned log-probs [B][T][s_range][C] into [B][T][S+1][C],
    -inf at every position outside the window."""
    B, T, R, C = logp_pruned.shape
    rows = []
    for b in range(B):
        frames = []
        for t in range(T):
            positions = [logp_pruned.new_full((C,), NEG_INF)] * (S + 1)
            for k in range(R):
                positions[int(ranges[b, t, k])] = logp_pruned[b, t, k]
            frames.append(torch.stack(positions))
        rows.append(torch.stack(frames))
    return torch.stack(rows)


def hat_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """HAT: log P(blank) = logsigmoid(x_0); log P(c) = logsigmoid(-x_0) +
    log_softmax(x_1..)[c-1] for c >= 1."""
    blank = torch.nn.functional.logsigmoid(logits[..., :1])
    labels = torch.nn.functional.logsigmoid(-logits[..., :1]) + logits[..., 1:].log_softmax(-1)
    return torch.cat([blank, labels], dim=-1)


def smoothed_log_probs(lm, am, lm_only_scale, am_only_scale):
    """[B][T][S+1][C] log-linear mix of the joint softmax(am + lm), the
    LM-only softmax(lm), and the AM-only softmax(am + log unigram) with the
    unigram the mean of softmax(lm) over batch and positions."""
    joint = (am[:, :, None] + lm[:, None]).log_softmax(-1)
    lm_only = lm.log_softmax(-1)[:, None].expand_as(joint)
    unigram = lm.softmax(-1).mean((0, 1))
    am_only = (am + unigram.log()).log_softmax(-1)[:, :, None].expand_as(joint)
    combined = 1 - lm_only_scale - am_only_scale
    return combined * joint + lm_only_scale * lm_only + am_only_scale * am_only
