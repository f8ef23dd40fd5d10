// The pruned lattice family's schemas (pruned_lattice_ops.h). Kernels:
// pruned_lattice_cpu.cpp, csrc/cuda/pruned_lattice_cuda.cu; autograd:
// pruned_lattice_autograd.cpp; fake kernels: rnnt_ops/_fake.py.
#include "pruned_lattice_ops.h"

TORCH_LIBRARY_FRAGMENT(rnnt, m) {
  using namespace rnnt::ops;
  rnnt::define_ops<_pruned_lattice, _pruned_lattice_backward>(m);
}
