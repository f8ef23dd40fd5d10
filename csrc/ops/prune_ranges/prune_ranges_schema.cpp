// The prune ranges family's schemas (prune_ranges_ops.h). Kernels:
// prune_ranges_cpu.cpp, csrc/cuda/prune_ranges_cuda.cu; the public ops'
// compositions: pruning.cpp; fake kernels: rnnt_ops/_fake.py.
#include "prune_ranges_ops.h"

TORCH_LIBRARY_FRAGMENT(rnnt, m) {
  using namespace rnnt::ops;
  rnnt::define_ops<get_rnnt_prune_ranges, do_rnnt_pruning,
                   _prune_ranges>(m);
}

RNNT_AUTOCAST_OFF(get_rnnt_prune_ranges, do_rnnt_pruning)
