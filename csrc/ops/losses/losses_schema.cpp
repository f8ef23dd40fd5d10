// The losses family's schemas (losses_ops.h). Kernels: simple_logprobs.cpp
// and logprobs.cpp (px/py constructions) and losses.cpp,
// CompositeImplicitAutograd (autograd comes from their parts); Python
// wrappers: rnnt_ops/rnnt_loss.py.
#include "losses_ops.h"

TORCH_LIBRARY_FRAGMENT(rnnt, m) {
  using namespace rnnt::ops;
  rnnt::define_ops<get_rnnt_logprobs, get_rnnt_logprobs_smoothed, get_rnnt_logprobs_joint,
                   get_rnnt_logprobs_pruned, rnnt_loss_simple, rnnt_loss_simple_with_grad,
                   rnnt_loss_smoothed, rnnt_loss_smoothed_with_grad, rnnt_loss,
                   rnnt_loss_with_grad, rnnt_loss_pruned, rnnt_loss_pruned_with_grad,
                   _scale_emission_grad>(m);
}

RNNT_AUTOCAST_OFF(get_rnnt_logprobs, get_rnnt_logprobs_smoothed, get_rnnt_logprobs_joint,
                  get_rnnt_logprobs_pruned, rnnt_loss_simple, rnnt_loss_simple_with_grad,
                  rnnt_loss_smoothed, rnnt_loss_smoothed_with_grad, rnnt_loss,
                  rnnt_loss_with_grad, rnnt_loss_pruned, rnnt_loss_pruned_with_grad)
