// The simple lattice family's schemas (simple_lattice_ops.h). Kernels:
// simple_lattice_cpu.cpp, csrc/cuda/simple_lattice_cuda.cu; autograd:
// simple_lattice_autograd.cpp; fake kernels: rnnt_ops/_fake.py.
#include "simple_lattice_ops.h"

TORCH_LIBRARY_FRAGMENT(rnnt, m) {
  using namespace rnnt::ops;
  rnnt::define_ops<_simple_lattice_logprobs, _simple_lattice, _simple_lattice_backward,
                   _simple_lattice_gather_grads_>(m);
}
