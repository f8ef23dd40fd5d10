"""The ATen compositions behind our fused eager kernels, for tests that
compare the two.

Several ops (get_rnnt_logprobs, get_rnnt_logprobs_pruned,
get_rnnt_prune_ranges) run fused kernels when called eagerly and keep an
equivalent composition of ATen ops for traced calls (torch.compile, ONNX
export, the TorchScript tracer). Inside ``Traced()`` an eager call takes the
traced path: a dispatch mode is active, so the ops see a traced call. The
helpers below compare a fused lattice (px [B][S][T(+1)], py [B][S+1][T],
-inf entries as constants) with its composition."""

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from reference import random_boundary

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


class Traced(TorchDispatchMode):
    """A pass-through dispatch mode: every op runs unchanged."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def random_lattice(g, rnnt_type, B, max_T, max_S, with_boundary=True, S=None):
    """Random sizes T in [1, max_T], S in [0, max_S] (S <= T unless regular;
    ``S`` fixes it), a ragged boundary (or None) and float64 upstream
    gradients for px and py."""
    T = int(torch.randint(1, max_T + 1, (1,), generator=g))
    S = int(torch.randint(0, max_S + 1, (1,), generator=g)) if S is None else S
    if rnnt_type != "regular":
        S = min(S, T)
    boundary = (random_boundary(B, S, T, g, with_begin=False, modified=rnnt_type != "regular")
                if with_boundary else None)
    px_cols = T + 1 if rnnt_type == "regular" else T
    grad_px = torch.randn(B, S, px_cols, generator=g, dtype=torch.float64)
    grad_py = torch.randn(B, S + 1, T, generator=g, dtype=torch.float64)
    return T, S, boundary, grad_px, grad_py


def finite(t):
    """``t`` with its -inf entries (constants of the lattice) set to 0."""
    return t.masked_fill(t.isinf(), 0)


def weighted_sum(px, py, grad_px, grad_py):
    """A scalar whose gradient w.r.t. px and py is grad_px and grad_py
    (0 at the -inf entries)."""
    return (finite(px) * grad_px).sum() + (finite(py) * grad_py).sum()


def assert_same(fused, composed, dtype):
    """Same -inf entries, and the rest within TOL[dtype]."""
    for a, b in zip(fused, composed):
        b = b.to(a.device)
        assert torch.equal(a.isinf(), b.isinf())
        torch.testing.assert_close(finite(a), finite(b), **TOL[dtype])
