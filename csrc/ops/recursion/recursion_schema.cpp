// The recursion family's schemas (recursion_ops.h). Kernels: recursion_cpu.cpp,
// csrc/cuda/recursion_cuda.cu; autograd: recursion_autograd.cpp; fake
// kernels: rnnt_ops/_fake.py.
#include "recursion_ops.h"

TORCH_LIBRARY_FRAGMENT(rnnt, m) {
  using namespace rnnt::ops;
  rnnt::define_ops<mutual_information, mutual_information_with_grad,
                   _mutual_information_forward,
                   _mutual_information_backward>(m);
}

RNNT_AUTOCAST_OFF(mutual_information, mutual_information_with_grad)
