// The fused joiner family's schemas (fused_joiner_ops.h). Kernels:
// fused_joiner_kernels.cpp (chunked log-probs and their backward),
// fused_joiner_autograd.cpp, fused_joiner_losses.cpp (the losses,
// CompositeImplicitAutograd); Python wrappers: rnnt_ops/fused.py.
#include "fused_joiner_ops.h"

TORCH_LIBRARY_FRAGMENT(rnnt, m) {
  using namespace rnnt::ops;
  rnnt::define_ops<_fused_joiner_logprobs, _fused_joiner_logprobs_backward, rnnt_loss_fused,
                   rnnt_loss_pruned_fused, rnnt_loss_tdt_fused>(m);
}

RNNT_AUTOCAST_OFF(rnnt_loss_fused, rnnt_loss_pruned_fused, rnnt_loss_tdt_fused,
                  _fused_joiner_logprobs_backward)
