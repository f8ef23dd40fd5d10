"""Fake (meta) kernels: output shapes of the C++ ops, for torch.compile and
meta tensors. The real kernels validate values; these check shapes only."""

import torch


def _check_recursion_devices(px, py, boundary, op: str):
    """The device checks of the C++ kernels (recursion_checks.h), which a call with
    any meta tensor never reaches: the dispatcher sends it here."""
    torch._check(
        px.device == py.device,
        lambda: f"{op}: px and py must be on the same device, got px on {px.device} and py on {py.device}",
    )
    # A boundary elsewhere is moved to px's device, but a meta boundary has
    # no values to move.
    torch._check(
        boundary is None or boundary.device == px.device or boundary.device.type != "meta",
        lambda: f"{op}: boundary must be on px's device ({px.device}) or hold values, "
        f"got a boundary on {boundary.device}",
    )


def _recursion_dims(px: torch.Tensor, py: torch.Tensor):
    torch._check(px.dim() == 3, lambda: f"px must be 3-D, got {px.dim()}-D")
    torch._check(py.dim() == 3, lambda: f"py must be 3-D, got {py.dim()}-D")
    B, S, T = px.shape[0], px.shape[1], py.shape[2]
    torch._check(
        py.shape[0] == B and py.shape[1] == S + 1,
        lambda: f"py must be [B][S+1][T] given px {tuple(px.shape)}, got {tuple(py.shape)}",
    )
    return B, S, T


def _contiguous_like(t: torch.Tensor) -> torch.Tensor:
    return t.new_empty(t.shape)


@torch.library.register_fake("rnnt::_mutual_information_forward")
def _mutual_information_forward_fake(px, py, boundary=None):
    _check_recursion_devices(px, py, boundary, "rnnt::mutual_information_forward")
    B, S, T = _recursion_dims(px, py)
    return px.new_empty((B,)), px.new_empty((B, S + 1, T + 1))


@torch.library.register_fake("rnnt::_mutual_information_backward")
def _mutual_information_backward_fake(px, py, boundary, p):
    _check_recursion_devices(px, py, boundary, "rnnt::mutual_information_backward")
    _recursion_dims(px, py)
    # The kernels return contiguous gradients whatever px/py's strides
    # (empty_like would copy a transposed input's strides, and inductor
    # checks the strides of extern kernel outputs).
    return _contiguous_like(px), _contiguous_like(py)


@torch.library.register_fake("rnnt::mutual_information")
def _mutual_information_fake(px, py, boundary=None):
    _check_recursion_devices(px, py, boundary, "rnnt::mutual_information")
    B, _, _ = _recursion_dims(px, py)
    return px.new_empty((B,))


@torch.library.register_fake("rnnt::mutual_information_with_grad")
def _mutual_information_with_grad_fake(px, py, boundary=None):
    _check_recursion_devices(px, py, boundary, "rnnt::mutual_information_with_grad")
    B, _, _ = _recursion_dims(px, py)
    return px.new_empty((B,)), _contiguous_like(px), _contiguous_like(py)


@torch.library.register_fake("rnnt::_checked_index")
def _checked_index_fake(index, size, name, function=""):
    return torch.empty_like(index)


@torch.library.register_fake("rnnt::_joiner_logprobs")
def _joiner_logprobs_fake(logits, symbol_index, termination_symbol, inplace_grad=False):
    acc = torch.float64 if logits.dtype == torch.float64 else torch.float32
    out = symbol_index.new_empty(symbol_index.shape, dtype=acc)
    return out, torch.empty_like(out), torch.empty_like(out)


@torch.library.register_fake("rnnt::_joiner_logprobs_backward")
def _joiner_logprobs_backward_fake(grad_symbol, grad_blank, logits, symbol_index, log_norm, termination_symbol):
    return torch.empty_like(logits)


@torch.library.register_fake("rnnt::_joiner_logprobs_backward_")
def _joiner_logprobs_backward_inplace_fake(grad_symbol, grad_blank, logits, symbol_index, log_norm, termination_symbol):
    return None


@torch.library.register_fake("rnnt::_prune_ranges")
def _prune_ranges_fake(px_grad, py_grad, boundary, s_range, max_step):
    B, S1, T = py_grad.shape
    torch._check(1 <= s_range <= S1, lambda: f"s_range must be in [1, S+1 = {S1}], got {s_range}")
    return py_grad.new_empty((B, T, s_range), dtype=torch.int64)


def _simple_px_py(lm, am, rnnt_type):
    """px [B][S][T+1] (regular) or [B][S][T] and py [B][S+1][T] for lm
    [B][S+1][C] and am [B][T][C]."""
    B, S1, _ = lm.shape
    T = am.shape[1]
    px_cols = T + 1 if rnnt_type == "regular" else T
    return lm.new_empty((B, S1 - 1, px_cols)), lm.new_empty((B, S1, T))


@torch.library.register_fake("rnnt::_simple_lattice_logprobs")
def _simple_lattice_logprobs_fake(lm, am, symbols, termination_symbol, rnnt_type, boundary,
                                  symbol_offset=None, blank_offset=None, frame_offset=None,
                                  w_am=1.0, w_lm=1.0, w_norm=1.0, lm_max=None, lm_exp=None,
                                  am_max=None, am_exp=None):
    return _simple_px_py(lm, am, rnnt_type)


@torch.library.register_fake("rnnt::_simple_lattice")
def _simple_lattice_fake(lm, am, lm_max, am_max, M, symbols, termination_symbol, rnnt_type, boundary,
                         symbol_offset=None, blank_offset=None, frame_offset=None,
                         w_am=1.0, w_lm=1.0, w_norm=1.0):
    return _simple_px_py(lm, am, rnnt_type)


@torch.library.register_fake("rnnt::_simple_lattice_backward")
def _simple_lattice_backward_fake(grad_px, grad_py, M, rnnt_type, boundary, w_norm=1.0):
    return grad_py.new_empty(grad_py.shape)


@torch.library.register_fake("rnnt::_simple_lattice_gather_grads_")
def _simple_lattice_gather_grads_fake(grad_lm, grad_am, grad_px, grad_py, symbols,
                                      termination_symbol, rnnt_type, boundary, w_am=1.0, w_lm=1.0):
    B, S1, T = grad_py.shape
    return (grad_py.new_empty((B, S1 - 1)), grad_py.new_empty((B, S1)),
            grad_py.new_empty((B, T)))


@torch.library.register_fake("rnnt::_pruned_lattice")
def _pruned_lattice_fake(px_kept, py_kept, ranges, S, rnnt_type, boundary):
    B, T, _ = py_kept.shape
    px_cols = T + 1 if rnnt_type == "regular" else T
    return py_kept.new_empty((B, S, px_cols)), py_kept.new_empty((B, S + 1, T))


@torch.library.register_fake("rnnt::_pruned_lattice_backward")
def _pruned_lattice_backward_fake(grad_px, grad_py, ranges, rnnt_type, boundary):
    return grad_py.new_empty(ranges.shape), grad_py.new_empty(ranges.shape)
