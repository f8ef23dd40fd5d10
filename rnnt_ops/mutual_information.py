"""The lattice recursion at the heart of (pruned) RNN-T, k2/fast_rnnt style."""

from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor


def mutual_information_recursion(
    px: Tensor,
    py: Tensor,
    boundary: Optional[Tensor] = None,
    return_grad: bool = False,
) -> Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]:
    r"""Total log-score of all monotone paths through a 2-D lattice.

    With ``px`` of shape ``[B][S][T+1]`` (regular) the recursion is::

        p[b, s_begin, t_begin] = 0
        p[b, s, t] = log_add(p[b, s-1, t] + px[b, s-1, t],
                             p[b, s, t-1] + py[b, s, t-1])

    and with ``px`` of shape ``[B][S][T]`` (modified: a symbol also consumes
    a frame)::

        p[b, s, t] = log_add(p[b, s-1, t-1] + px[b, s-1, t-1],
                             p[b, s, t-1] + py[b, s, t-1])

    where terms with an index outside the item's box are ``-inf``. The result
    is ``p[b, s_end, t_end]``.

    Args:
      px: ``[B][S][T+1]`` or ``[B][S][T]``, float32 or float64: log-probs of
        moving one step along s (emitting a symbol).
      py: ``[B][S+1][T]``, same dtype and device: log-probs of moving one step
        along t (blank / next frame).
      boundary: optional int64 (or int32) ``[B][4]`` rows ``(s_begin, t_begin, s_end,
        t_end)``; ``None`` means ``(0, 0, S, T)`` for every item. Cells outside
        an item's box are never read.
      return_grad: also return ``(px_grad, py_grad)``, the gradients of
        ``scores.sum()`` w.r.t. px and py (occupation probabilities; zero for
        an item with no path), computed in the same call.

    Returns:
      ``scores`` of shape ``[B]``, or ``(scores, (px_grad, py_grad))``.
      Differentiable w.r.t. px and py (once).
    """
    if return_grad:
        scores, px_grad, py_grad = torch.ops.rnnt.mutual_information_with_grad(
            px, py, boundary
        )
        return scores, (px_grad, py_grad)
    return torch.ops.rnnt.mutual_information(px, py, boundary)


def joint_mutual_information_recursion(
    px: List[Tensor],
    py: List[Tensor],
    boundary: Optional[Tensor] = None,
) -> Tensor:
    r"""The recursion of :func:`mutual_information_recursion` on the summed
    terms ``px_sum = sum(px)``, ``py_sum = sum(py)``, reported per term
    (k2 / fast_rnnt semantics).

    Returns ``[N][B]`` (``N = len(px) = len(py)``): row i is the expected
    value of term i's arc weights over the paths, under the posterior of the
    summed recursion, ``sum(occ_x * px[i]) + sum(occ_y * py[i])`` with
    ``occ`` the occupation probabilities. Row 0 also carries the offset
    ``total - sum_i row_i`` (log of sum versus expected sum of logs), so the
    rows sum to the total log-score; put the main term first. Gradients flow
    to every ``px[i]``/``py[i]`` with the occupations held constant, so
    ``d ans.sum(0) / d px[i]`` is the gradient of the total w.r.t. px_sum.
    Differentiable once: a gradient of those gradients raises.

    Args:
      px: a non-empty list (or tuple) of tensors, all ``[B][S][T+1]`` (or all
        ``[B][S][T]``, modified), float32 or float64.
      py: a sequence of the same length, all ``[B][S+1][T]``.
      boundary: as in :func:`mutual_information_recursion`.

    Returns:
      ``[N][B]``, dtype of px; raises ValueError if px and py are empty or of
      different lengths.
    """
    if len(px) == 0 or len(px) != len(py):
        raise ValueError(
            "joint_mutual_information_recursion: px and py must be non-empty sequences of "
            f"the same length, got {len(px)} and {len(py)}"
        )
    px_all = torch.stack(list(px))  # [N][B][S][T or T+1]
    py_all = torch.stack(list(py))  # [N][B][S+1][T]
    with torch.no_grad():
        total, px_occ, py_occ = torch.ops.rnnt.mutual_information_with_grad(
            px_all.sum(0), py_all.sum(0), boundary
        )
    if torch.jit.is_scripting():
        terms = _expected_terms(px_all, py_all, px_occ, py_occ)
    else:
        terms = _ExpectedTerms.apply(px_all, py_all, px_occ, py_occ)
    offset = total - terms.detach().sum(0)
    return torch.cat([terms[:1] + offset, terms[1:]])


def _expected_terms(px_all: Tensor, py_all: Tensor, px_occ: Tensor, py_occ: Tensor) -> Tensor:
    """``sum(occ_x * px[i]) + sum(occ_y * py[i])`` per term and item, [N][B].
    -inf arcs have occupation 0: they are made finite so that 0 * -inf is
    not NaN."""
    inf = float("inf")
    px_finite = torch.nan_to_num(px_all, nan=float("nan"), posinf=inf)
    py_finite = torch.nan_to_num(py_all, nan=float("nan"), posinf=inf)
    return (px_finite * px_occ).flatten(2).sum(2) + (py_finite * py_occ).flatten(2).sum(2)


class _ExpectedTerms(torch.autograd.Function):
    """_expected_terms with the occupations held constant, differentiable
    once: under create_graph=True its gradients get a node that raises when
    differentiated again (their dependence on px and py through the
    occupations is not computed, so a second-order gradient would be wrong)."""

    @staticmethod
    def forward(ctx, px_all, py_all, px_occ, py_occ):
        ctx.save_for_backward(px_all, py_all, px_occ, py_occ)
        return _expected_terms(px_all, py_all, px_occ, py_occ)

    @staticmethod
    def backward(ctx, grad):
        px_all, py_all, px_occ, py_occ = ctx.saved_tensors
        scale = grad[:, :, None, None]
        grad_px, grad_py = px_occ * scale, py_occ * scale
        if torch.is_grad_enabled():
            grad_px, grad_py = _RaiseIfDifferentiated.apply(grad_px, grad_py, px_all, py_all, grad)
        return grad_px, grad_py, None, None


class _RaiseIfDifferentiated(torch.autograd.Function):
    """Identity on (grad_px, grad_py), tied to the anchors (px_all, py_all,
    the incoming gradient) so that any gradient of it reaches its backward,
    which raises."""

    @staticmethod
    def forward(ctx, grad_px, grad_py, *anchors):
        return grad_px.clone(), grad_py.clone()

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(
            "joint_mutual_information_recursion is differentiable once: its backward holds "
            "the lattice occupation probabilities constant, so a second-order gradient "
            "(backward with create_graph=True, then a gradient of that gradient) would be "
            "wrong and is not supported"
        )
