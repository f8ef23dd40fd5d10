// rnnt::_checked_index: a copy of an int64 index checked to lie in
// [0, size), a backend kernel so that the check also runs inside
// torch.compile'd graphs (checked_index.cpp), and call_checked_index, which
// skips it in eager mode when there is nothing to read.
#pragma once

#include "checked_values.h"
#include "eager.h"
#include "op.h"
#include "op_names.h"
#include "value_checks.h"

namespace rnnt {
namespace ops {

// "name" names the index in the error, and "function" the function the
// user called (default: the public op running, see op_names.h); a Python
// entry point over the ops names itself so, traced graphs included.
RNNT_OP(_checked_index, "(Tensor index, SymInt size, str name, str function=\"\") -> Tensor",
        Tensor(TensorArg, c10::SymInt, c10::string_view, c10::string_view));

}  // namespace ops

// `index` (int64), checked to lie in [0, size) unless value checks are off
// (value_checks.h). `name` is the argument named in the error.
//
// In eager mode the op is skipped, and `index` itself used, when there is
// nothing to read: value checks off, or an index already checked against
// this size and unchanged since (checked_values.h). Traced, the op is
// always called, so that graphs keep their checks; it carries the name of
// the public op being traced (op_names.h), which its error names when the
// graph runs.
inline at::Tensor call_checked_index(const at::Tensor& index, const c10::SymInt& size,
                                     c10::string_view name) {
  if (index.scalar_type() == at::kLong && is_eager(index)) {
    if (!value_checks_enabled()) return index;
    int64_t lo = 0, hi = 0;
    const auto upper = size.maybe_as_int();
    if (upper && CheckedValues::instance().lookup(index, CheckedKind::kIndexRange, lo, hi) &&
        lo >= 0 && hi < *upper) {
      return index;
    }
  }
  return ops::_checked_index::call(index, size, name, op_name(""));
}

}  // namespace rnnt
