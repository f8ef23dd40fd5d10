// The joiner family's schemas (joiner_ops.h). Kernels: joiner_cpu.cpp,
// csrc/cuda/joiner_cuda.cu; autograd: joiner_autograd.cpp; fake kernels:
// rnnt_ops/_fake.py.
#include "joiner_ops.h"

TORCH_LIBRARY_FRAGMENT(rnnt, m) {
  using namespace rnnt::ops;
  rnnt::define_ops<_joiner_logprobs, _joiner_logprobs_backward,
                   _joiner_logprobs_backward_>(m);
}
