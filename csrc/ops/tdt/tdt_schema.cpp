// The TDT family's schemas (tdt_ops.h). Kernels:
// duration_lattice_cpu.cpp (and csrc/cuda/tdt_cuda.cu), duration_autograd.cpp,
// duration_losses.cpp and pruned_tdt_losses.cpp (the losses,
// CompositeImplicitAutograd); Python
// wrappers: rnnt_ops/tdt.py.
#include "tdt_ops.h"

TORCH_LIBRARY_FRAGMENT(rnnt, m) {
  using namespace rnnt::ops;
  rnnt::define_ops<rnnt_loss_tdt, rnnt_loss_multiblank, rnnt_loss_tdt_simple,
                   rnnt_loss_tdt_simple_with_grad, rnnt_loss_tdt_pruned, _duration_lattice,
                   _duration_lattice_with_grad, _duration_lattice_forward,
                   _duration_lattice_backward>(m);
}

RNNT_AUTOCAST_OFF(rnnt_loss_tdt, rnnt_loss_multiblank, rnnt_loss_tdt_simple,
                  rnnt_loss_tdt_simple_with_grad, rnnt_loss_tdt_pruned)
