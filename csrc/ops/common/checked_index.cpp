// The kernel of rnnt::_checked_index (checked_index.h), for every backend:
// one device-to-host copy of the index's bounds, skipped for an index the
// memo of checked values knows.
#include "checked_index.h"
#include "op_names.h"

namespace rnnt {
namespace {

at::Tensor checked_index(const at::Tensor& index, c10::SymInt size, c10::string_view name,
                         c10::string_view function) {
  const std::string caller = function.empty() ? op_name("rnnt") : std::string(function);
  TORCH_CHECK(index.scalar_type() == at::kLong, caller, ": ", std::string(name),
              " must be int64, got ", index.scalar_type());
  const int64_t upper = size.expect_int();
  const at::Tensor checked = index.clone();
  if (index.numel() > 0 && value_checks_enabled()) {
    int64_t lo = 0, hi = 0;
    const bool known = CheckedValues::instance().lookup(index, CheckedKind::kIndexRange, lo, hi);
    if (!known || lo < 0 || hi >= upper) {
      // One device-to-host copy (one sync on CUDA) for both bounds.
      RNNT_RECORD_HOST_READ();
      const auto [lo_t, hi_t] = at::aminmax(index);
      const at::Tensor bounds = at::stack({lo_t, hi_t}).cpu();
      lo = bounds[0].item<int64_t>();
      hi = bounds[1].item<int64_t>();
      pass_index_range(index, lo, hi, upper, name, caller.c_str());
    }
    // The copy holds the same values, so it is remembered as checked too:
    // an op given the copy next finds it in the memo instead of reading it.
    CheckedValues::instance().remember(checked, CheckedKind::kIndexRange, lo, hi);
  }
  return checked;
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CompositeExplicitAutograd, m) {
  m.impl(ops::_checked_index::name, &checked_index);
}

}  // namespace rnnt
