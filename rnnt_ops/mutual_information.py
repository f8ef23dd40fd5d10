"""The lattice recursion at the heart of (pruned) RNN-T, k2/fast_rnnt style."""

from typing import Optional, Tuple, Union

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
      boundary: optional int64 ``[B][4]`` rows ``(s_begin, t_begin, s_end,
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
