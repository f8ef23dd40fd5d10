"""Fake (meta) kernels of the duration-lattice ops (TDT, multi-blank): output
shapes for torch.compile and meta tensors. The real kernels check values."""

import torch


def _acc_dtype(logits: torch.Tensor) -> torch.dtype:
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


@torch.library.register_fake("rnnt::_duration_lattice")
def _duration_lattice_fake(logits, duration_logits, symbols, arcs, boundary=None, sigma=0.0,
                           fastemit_lambda=0.0, label_logprobs=False):
    torch._check(logits.dim() == 4, lambda: f"logits must be 4-D, got {logits.dim()}-D")
    return logits.new_empty((logits.shape[0],), dtype=_acc_dtype(logits))


@torch.library.register_fake("rnnt::_duration_lattice_with_grad")
def _duration_lattice_with_grad_fake(logits, duration_logits, symbols, arcs, boundary=None,
                                     sigma=0.0, label_logprobs=False):
    torch._check(logits.dim() == 4, lambda: f"logits must be 4-D, got {logits.dim()}-D")
    grad_z = (logits.new_empty((0,)) if duration_logits is None
              else duration_logits.new_empty(duration_logits.shape))
    return (logits.new_empty((logits.shape[0],), dtype=_acc_dtype(logits)),
            logits.new_empty(logits.shape), grad_z)


@torch.library.register_fake("rnnt::_duration_lattice_forward")
def _duration_lattice_forward_fake(logits, duration_logits, symbols, arcs, boundary=None,
                                   sigma=0.0, fastemit_lambda=0.0, label_logprobs=False):
    torch._check(logits.dim() == 4, lambda: f"logits must be 4-D, got {logits.dim()}-D")
    B, T, S1, _ = logits.shape
    acc = _acc_dtype(logits)
    return (logits.new_empty((B,), dtype=acc), logits.new_empty((B, T, S1), dtype=acc),
            logits.new_empty((B, T, S1, 2), dtype=acc))


@torch.library.register_fake("rnnt::_duration_lattice_backward")
def _duration_lattice_backward_fake(grad_scores, logits, duration_logits, symbols, arcs, boundary,
                                    sigma, fastemit_lambda, scores, alpha, norms,
                                    label_logprobs=False):
    grad_z = (logits.new_empty((0,)) if duration_logits is None
              else duration_logits.new_empty(duration_logits.shape))
    return logits.new_empty(logits.shape), grad_z
