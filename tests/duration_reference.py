"""Independent float64 references of the duration-lattice losses (TDT and
multi-blank): a dynamic program over plain PyTorch scalars (differentiable,
so autograd gives reference gradients) and a brute-force enumeration of
every path on tiny lattices."""

import math
from typing import List, Optional, Sequence, Tuple

import torch

# An arc kind: (label, duration, duration index); label None = next symbol,
# duration index None = no duration log-prob.
Arc = Tuple[Optional[int], int, Optional[int]]


def tdt_arc_kinds(blank: int, durations: Sequence[int]) -> List[Arc]:
    arcs: List[Arc] = []
    for i, d in enumerate(durations):
        if d >= 1:
            arcs.append((blank, d, i))
        arcs.append((None, d, i))
    return arcs


def multiblank_arc_kinds(blank: int, ids: Sequence[int], durations: Sequence[int]) -> List[Arc]:
    return [(blank, 1, None), (None, 0, None)] + [(c, d, None) for c, d in zip(ids, durations)]


def _log_probs(logits, duration_logits, sigma, fastemit_lambda):
    lp = logits.double().log_softmax(-1) - sigma
    lz = None if duration_logits is None else duration_logits.double().log_softmax(-1)
    # FastEmit: same values, symbol arcs' label gradient scaled by 1 + lambda.
    lp_sym = lp + fastemit_lambda * (lp - lp.detach())
    return lp, lp_sym, lz


def _lengths(b, T, S, boundary):
    if boundary is None:
        return T, S
    return int(boundary[b, 3]), int(boundary[b, 2])


def _weight(arc, b, t, u, lp, lp_sym, lz, symbols):
    label, _, di = arc
    w = lp_sym[b, t, u, int(symbols[b, u])] if label is None else lp[b, t, u, label]
    if di is not None and lz is not None:
        w = w + lz[b, t, u, di]
    return w


def _lands(arc, t, u, T, U):
    label, d, _ = arc
    if label is None:
        return u < U and t + d < T
    return t + d < T or (t + d == T and u == U)


def reference_scores(logits, duration_logits, symbols, arcs: List[Arc], boundary=None,
                     sigma=0.0, fastemit_lambda=0.0) -> torch.Tensor:
    """Per-item log P [B] by the backward (beta) recursion."""
    lp, lp_sym, lz = _log_probs(logits, duration_logits, sigma, fastemit_lambda)
    B, Tmax, S1, _ = logits.shape
    out = []
    for b in range(B):
        T, U = _lengths(b, Tmax, S1 - 1, boundary)
        neg_inf = torch.tensor(float("-inf"), dtype=torch.float64)
        beta = {}
        for t in reversed(range(T)):
            for u in reversed(range(U + 1)):
                terms = []
                for arc in arcs:
                    if not _lands(arc, t, u, T, U):
                        continue
                    label, d, _ = arc
                    w = _weight(arc, b, t, u, lp, lp_sym, lz, symbols)
                    if label is not None and t + d == T:
                        terms.append(w)
                    else:
                        rest = beta[(t + d, u + (label is None))]
                        if rest.isfinite():  # dead ends would give NaN gradients
                            terms.append(w + rest)
                beta[(t, u)] = torch.logsumexp(torch.stack(terms), 0) if terms else neg_inf
        out.append(beta.get((0, 0), neg_inf))
    return torch.stack(out)


def brute_force_scores(logits, duration_logits, symbols, arcs: List[Arc], boundary=None,
                       sigma=0.0) -> List[float]:
    """Per-item log P [B] as the log of a sum of exp(path weight) over every
    path, enumerated depth-first (tiny lattices only)."""
    lp, _, lz = _log_probs(logits.detach(), None if duration_logits is None
                           else duration_logits.detach(), sigma, 0.0)
    B, Tmax, S1, _ = logits.shape
    out = []
    for b in range(B):
        T, U = _lengths(b, Tmax, S1 - 1, boundary)
        total = 0.0

        def walk(t, u, log_w):
            nonlocal total
            for arc in arcs:
                if not _lands(arc, t, u, T, U):
                    continue
                label, d, _ = arc
                w = log_w + float(_weight(arc, b, t, u, lp, lp, lz, symbols))
                if label is not None and t + d == T:
                    total += math.exp(w)
                else:
                    walk(t + d, u + (label is None), w)

        if T > 0:
            walk(0, 0, 0.0)
        out.append(math.log(total) if total > 0 else float("-inf"))
    return out
