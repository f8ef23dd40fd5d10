// What the TDT losses (duration_losses.cpp, pruned_tdt_losses.cpp) share
// around the lattice: the checks of their scalar options and devices, the
// padding of their symbols, and omega's mix with the regular RNN-T loss.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "common/checks.h"
#include "duration_lattice.h"

namespace rnnt {

inline void check_omega(double omega, const char* op) {
  TORCH_CHECK_VALUE(omega >= 0.0 && omega <= 1.0, op, ": omega must be in [0, 1], got ", omega);
}

inline void check_sigma(double sigma, const char* op) {
  TORCH_CHECK_VALUE(std::isfinite(sigma), op, ": sigma must be finite, got ", sigma);
}

// The most durations a TDT loss takes: each duration >= 1 makes two arc
// kinds (blank and symbol), and the lattice holds kMaxDurationArcs.
constexpr int64_t kMaxDurations = kMaxDurationArcs / 2;

inline void check_durations_count(c10::IntArrayRef durations, const char* op) {
  TORCH_CHECK_VALUE(static_cast<int64_t>(durations.size()) <= kMaxDurations, op,
                    ": durations must hold at most ", kMaxDurations, " values, got ",
                    durations.size());
}

// symbols, boundary (optional) and duration_logits (optional) beside
// `logits`: on its device (a CPU boundary may accompany a GPU one).
inline void check_tdt_devices(const at::Tensor& logits, const char* logits_name,
                              const at::Tensor& symbols,
                              const c10::optional<at::Tensor>& boundary,
                              const at::Tensor& duration_logits, const char* duration_name,
                              const char* op) {
  check_same_device(symbols, "symbols", logits, logits_name, op);
  if (duration_logits.defined()) {
    check_same_device(duration_logits, duration_name, logits, logits_name, op);
  }
  if (boundary.has_value() && boundary->defined()) {
    check_index_device(*boundary, "boundary", logits, logits_name, op);
  }
}

// symbols [B][S] with the positions past each item's U_b (boundary[:, 2])
// set to `blank`: padding is never read by the TDT lattice, so the regular
// RNN-T terms beside it must not read (or check) it either.
inline at::Tensor padding_as_blank(const at::Tensor& symbols,
                                   const c10::optional<at::Tensor>& boundary, int64_t blank) {
  if (!boundary.has_value() || !boundary->defined()) return symbols;
  const at::Tensor positions =
      at::arange(symbols.sym_size(1), symbols.options()).unsqueeze(0);
  const at::Tensor lengths = boundary->select(1, 2).to(symbols.device()).unsqueeze(1);
  return symbols.masked_fill(positions >= lengths, blank);
}

// Per-item (1 - omega) * tdt + omega * rnnt(), rnnt() called only when
// omega > 0. At omega = 1 an item without a TDT path (tdt = inf) adds 0,
// not 0 * inf = NaN; the TDT term stays in the graph (zero gradients).
template <typename RnntLosses>
at::Tensor mix_omega(const at::Tensor& tdt, double omega, RnntLosses rnnt) {
  if (omega == 0.0) return tdt;
  const at::Tensor kept =
      omega == 1.0 ? at::where(tdt == std::numeric_limits<double>::infinity(),
                               at::zeros_like(tdt), tdt)
                   : tdt;
  return (1.0 - omega) * kept + omega * rnnt();
}

}  // namespace rnnt
