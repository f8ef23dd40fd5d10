// The switch for the checks that read index and boundary *values* (symbols
// and ranges in range, boundary rows inside the lattice). Reading them is a
// copy to the host, and on CUDA each such copy waits for the device, so the
// host can no longer queue work ahead of it. Shape, dtype and device checks
// read no values and always run.
//
// With the switch off (rnnt::set_value_checks(False)), bad values raise no
// clear error, but still cannot read or write outside any tensor: the
// recursion kernels clamp every box into the lattice, ATen's gathers check
// their indices (a device-side assert on CUDA), and so does the fused
// joiner's CUDA kernel (its CPU kernel raises).
#pragma once

#include <atomic>

namespace rnnt {

inline std::atomic<bool>& value_checks_flag() {
  static std::atomic<bool> enabled{true};
  return enabled;
}

inline bool value_checks_enabled() {
  return value_checks_flag().load(std::memory_order_relaxed);
}

}  // namespace rnnt
