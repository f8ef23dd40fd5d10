// The value checks of a loss call's symbols and boundary, with one host read
// that the host does not wait for at the start of the op.
//
// start() queues a copy of the symbols' bounds and the boundary rows to the
// host (on CUDA into pinned memory, without blocking) and the op indexes
// with the symbols clamped into [0, C) meanwhile, so that none of its
// kernels can read out of bounds or trip a device-side assert. finish(), at
// the end of the op, waits for that copy only, not for the op's kernels
// queued after it, and raises what rnnt::_checked_index raises for bad
// symbols, and for a boundary row outside the lattice (with_symbols_read,
// below, runs an op's body between the two); what passed is remembered
// (checked_values.h), so that the recursion and the next loss call on the
// same tensors read nothing.
//
// Why: a blocking read at the start of a loss waits for everything queued
// before it (in a training step, the model's forward), and the GPU then idles
// while the host queues the loss. Here the host waits, at the end, for a copy
// queued early, while the GPU works through the loss (docs/value_checks.md).
//
// Only in eager mode with value checks on: traced calls keep
// rnnt::_checked_index in their graphs (checked_index.h).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <optional>
#include <vector>

#include "checked_values.h"
#include "checked_index.h"
#include "eager.h"
#include "recursion/recursion_checks.h"
#include "value_checks.h"

namespace rnnt {

class SymbolsReadAhead {
 public:
  // Starts the read of symbols [B][S] int64 (and of boundary [B][4] int64,
  // if given, on the same device), both shape-checked already. Nothing is
  // read when value checks are off, the call is traced, or the memo knows
  // the symbols.
  static SymbolsReadAhead start(const at::Tensor& symbols,
                                const c10::optional<at::Tensor>& boundary) {
    SymbolsReadAhead read;
    if (!value_checks_enabled() || !is_eager(symbols) ||
        symbols.scalar_type() != at::kLong || symbols.numel() == 0) {
      return read;
    }
    int64_t lo = 0, hi = 0;
    if (CheckedValues::instance().lookup(symbols, CheckedKind::kIndexRange, lo, hi)) {
      return read;
    }
    const auto [lo_t, hi_t] = at::aminmax(symbols);
    std::vector<at::Tensor> parts{at::stack({lo_t, hi_t})};
    if (boundary.has_value() && boundary->defined() && is_eager(*boundary) &&
        boundary->device() == symbols.device()) {
      read.boundary_ = *boundary;
      parts.push_back(boundary->flatten());
    }
    const at::Tensor values = at::cat(parts);
    read.symbols_ = symbols;
    if (values.is_cpu()) {
      read.host_ = values;
      return read;
    }
    read.host_ = at::empty(values.sizes(),
                           values.options().device(at::kCPU).pinned_memory(true));
    read.host_.copy_(values, /*non_blocking=*/true);
    const c10::impl::VirtualGuardImpl guard(values.device().type());
    read.copied_.emplace(values.device().type());
    read.copied_->record(guard.getStream(values.device()));
    return read;
  }

  // The symbols to index with: clamped into [0, C) while the read is
  // pending; otherwise checked by rnnt::_checked_index (a memo hit, or the
  // traced or unchecked call).
  at::Tensor symbols_in_range(const at::Tensor& symbols, const c10::SymInt& C) const {
    if (!symbols_.defined()) return call_checked_index(symbols, C, "symbols");
    return symbols.clamp(c10::Scalar(0), c10::Scalar(C - 1));
  }

  // Waits for the copy, raises for symbols outside [0, C) and for a
  // boundary row outside the S x T lattice (naming `op`), remembers what
  // passed. Call once, at the end of the op. A boundary not read along
  // (symbols known, or on another device) is checked by its own read,
  // unless the memo knows it.
  void finish(const c10::SymInt& C, const c10::SymInt& S, const c10::SymInt& T,
              const c10::optional<at::Tensor>& boundary, const char* op) {
    if (symbols_.defined()) {
      RNNT_RECORD_HOST_READ();
      if (copied_.has_value()) copied_->synchronize();
      const int64_t* v = host_.data_ptr<int64_t>();
      pass_index_range(symbols_, v[0], v[1], C.expect_int(), "symbols", op);
      if (boundary_.defined()) {
        check_boundary_rows(v + 2, boundary_.size(0), S.expect_int(), T.expect_int(), op);
        remember_boundary_rows(boundary_, v + 2);
        return;
      }
    }
    const auto s = S.maybe_as_int(), t = T.maybe_as_int();
    if (value_checks_enabled() && boundary.has_value() && boundary->defined() &&
        is_eager(*boundary) && s && t) {
      check_boundary_values(*boundary, *s, *t, op);
    }
  }

 private:
  at::Tensor symbols_;   // defined while a read is pending
  at::Tensor boundary_;  // read along, if given on the symbols' device
  at::Tensor host_;      // [2 + 4B] int64: symbols' min and max, boundary rows
  std::optional<c10::Event> copied_;  // the copy's completion, off the CPU
};

// A loss op's body run between the start and the finish of its symbols'
// read: compute(symbols) gets the symbols to index with
// (symbols_in_range); the read's errors come after it, from finish (C
// classes, an S x T lattice, errors naming `op`).
template <typename Compute>
auto with_symbols_read(const at::Tensor& symbols, const c10::optional<at::Tensor>& boundary,
                       const c10::SymInt& C, const c10::SymInt& S, const c10::SymInt& T,
                       const char* op, Compute&& compute) {
  SymbolsReadAhead read = SymbolsReadAhead::start(symbols, boundary);
  auto result = compute(read.symbols_in_range(symbols, C));
  read.finish(C, S, T, boundary, op);
  return result;
}

}  // namespace rnnt
