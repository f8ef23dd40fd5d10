// A memo of the value checks already passed, so that one training step reads
// each input's values on the host once, not once per op: on CUDA every read
// waits for the device, and the simple loss, do_rnnt_pruning and the pruned
// loss of one step take the same symbols, ranges and boundary
// (docs/value_checks.md has the measurements).
//
// An entry holds what a check learned about a tensor: the [lo, hi] range of
// an index, or the largest s_end and t_end of a well-formed boundary. It
// stays valid while the tensor is the same object (a weak reference to its
// TensorImpl, so a freed tensor's address cannot be mistaken for it), with
// the same data pointer, element count and version counter: every in-place
// change through the tensor or a view of it bumps that counter. Writes that
// bypass the counter (through `.data`, a NumPy view, DLPack) are not seen.
// CPU and CUDA tensors alike (not meta ones, which hold no values): on
// CUDA a read waits for the device, on the CPU it is a scan; one behaviour
// on both lets CPU CI test the memo.
// Tensors without a version counter (inference mode) and tensor subclasses
// (fake, functional tensors under torch.compile) are never memoised.
#pragma once

#include <ATen/ATen.h>
#include <ATen/TensorSubclassLikeUtils.h>
#include <ATen/record_function.h>
#include <c10/util/intrusive_ptr.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>

#include "recursion/rnnt_math.h"

namespace rnnt {

// What a value check established about a tensor, as two numbers (x, y):
// kIndexRange, an index's smallest and largest value; kBoundaryExtent, the
// largest s_end and t_end of a boundary whose every row has
// 0 <= s_begin <= s_end and 0 <= t_begin <= t_end; kWindowNeed, the
// smallest pruning window sizes of such a boundary (regular, modified:
// window_need below).
enum class CheckedKind : uint8_t { kIndexRange, kBoundaryExtent, kWindowNeed };

class CheckedValues {
 public:
  // Never destroyed: no teardown-order question at exit.
  static CheckedValues& instance() {
    static CheckedValues* memo = new CheckedValues();
    return *memo;
  }

  // The facts (x, y) remembered for `t` under `kind`, if still valid.
  bool lookup(const at::Tensor& t, CheckedKind kind, int64_t& x, int64_t& y) {
    if (!memoisable(t)) return false;
    const std::lock_guard<std::mutex> lock(mutex_);
    for (const Entry& e : entries_) {
      if (e.kind == kind && e.matches(t)) {
        x = e.x;
        y = e.y;
        return true;
      }
    }
    return false;
  }

  void remember(const at::Tensor& t, CheckedKind kind, int64_t x, int64_t y) {
    if (!memoisable(t)) return;
    const std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = entries_[next_];
    next_ = (next_ + 1) % entries_.size();
    e = Entry{c10::weak_intrusive_ptr<c10::TensorImpl>(t.getIntrusivePtr()),
              t.unsafeGetTensorImpl()->version_counter().current_version(),
              t.data_ptr(), t.numel(), kind, x, y};
  }

  // Whether facts about `t` can be remembered at all.
  static bool memoisable(const at::Tensor& t) {
    return t.defined() && !t.is_inference() && !at::isTensorSubclassLike(t) &&
           (t.is_cpu() || t.is_cuda()) && t.has_storage();
  }

 private:
  struct Entry {
    c10::weak_intrusive_ptr<c10::TensorImpl> impl{c10::weak_intrusive_ptr<c10::TensorImpl>(
        c10::intrusive_ptr<c10::TensorImpl>())};
    uint32_t version = 0;
    const void* data = nullptr;
    int64_t numel = 0;
    CheckedKind kind = CheckedKind::kIndexRange;
    int64_t x = 0, y = 0;

    bool matches(const at::Tensor& t) const {
      return !impl.expired() && impl._unsafe_get_target() == t.unsafeGetTensorImpl() &&
             version == t.unsafeGetTensorImpl()->version_counter().current_version() &&
             data == t.data_ptr() && numel == t.numel();
    }
  };

  std::mutex mutex_;
  std::array<Entry, 16> entries_;
  size_t next_ = 0;
};

// What a read of index values shows: raises unless [lo, hi] lies in
// [0, upper), naming the argument; remembers the range that passed.
inline void pass_index_range(const at::Tensor& index, int64_t lo, int64_t hi, int64_t upper,
                             c10::string_view name, const char* op = "rnnt") {
  TORCH_CHECK_VALUE(lo >= 0 && hi < upper, op, ": ", std::string(name), " must lie in [0, ",
                    upper, "), got values in [", lo, ", ", hi, "]");
  CheckedValues::instance().remember(index, CheckedKind::kIndexRange, lo, hi);
}

// The smallest pruning window sizes (get_rnnt_prune_ranges) that let every
// item with a path keep one: window starts begin at 0 on frame 0, grow by
// at most `step` per frame and must reach s_end - (R-1) on frame t_end - 1,
// so (t_end - 1) * step >= s_end - R + 1. Regular (step R - 1):
// R >= (s_end - 1) // t_end + 2. Modified/constrained (step 1, and a path
// only if s_end <= t_end): R >= s_end - t_end + 2, which is at most 2; but
// a constrained emission at frame t also scores the blank of the next row
// at t, so its window must hold both rows: R >= 2 for an item with a
// symbol (the ranges cannot tell constrained from modified). The batch
// maximum, at least 1; items without frames or symbols need nothing.
struct WindowNeed {
  int64_t regular = 1;
  int64_t modified = 1;
};

inline WindowNeed window_need_of(int64_t s_end, int64_t t_end) {
  WindowNeed need;
  if (t_end < 1 || s_end < 1) return need;
  need.regular = (s_end - 1) / t_end + 2;
  if (s_end <= t_end) need.modified = 2;
  return need;
}

inline WindowNeed window_need_of_rows(const int64_t* rows, int64_t B) {
  WindowNeed need;
  for (int64_t i = 0; i < B; ++i) {
    const WindowNeed item = window_need_of(rows[4 * i + 2], rows[4 * i + 3]);
    need.regular = std::max(need.regular, item.regular);
    need.modified = std::max(need.modified, item.modified);
  }
  return need;
}

// Remembers the extent and window needs of boundary [B][4] from its rows
// read on the host (`rows`, B * 4 values), if every row is well formed
// (0 <= begin <= end on both axes); a row that is not leaves nothing
// remembered.
inline void remember_boundary_rows(const at::Tensor& boundary, const int64_t* rows) {
  constexpr int64_t kAny = std::numeric_limits<int64_t>::max();
  int64_t max_s_end = 0, max_t_end = 0;
  for (int64_t i = 0; i < boundary.size(0); ++i) {
    const int64_t* r = rows + 4 * i;
    const Box box{r[0], r[1], r[2], r[3]};
    if (!box_inside(box, kAny, kAny)) return;
    max_s_end = std::max(max_s_end, box.s_end);
    max_t_end = std::max(max_t_end, box.t_end);
  }
  CheckedValues::instance().remember(boundary, CheckedKind::kBoundaryExtent, max_s_end,
                                     max_t_end);
  const WindowNeed need = window_need_of_rows(rows, boundary.size(0));
  CheckedValues::instance().remember(boundary, CheckedKind::kWindowNeed, need.regular,
                                     need.modified);
}

// Marks a read of tensor values on the host (a wait for the device on CUDA)
// in profiles, where tests and bench/profile_step.py count them.
#define RNNT_RECORD_HOST_READ() RECORD_FUNCTION("rnnt::host_read", c10::ArrayRef<const c10::IValue>{})

}  // namespace rnnt
