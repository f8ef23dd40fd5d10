// The rnnt namespace's one TORCH_LIBRARY block, with the ops every family
// shares: the value-check switch and the index check (checked_index.h).
// Each family adds its own ops with a TORCH_LIBRARY_FRAGMENT in
// <family>/<family>_schema.cpp.
#include <torch/library.h>

#include "checked_index.h"
#include "value_checks.h"

TORCH_LIBRARY(rnnt, m) {
  // Whether the ops check index and boundary values (value_checks.h);
  // returns the previous setting. Process-wide, on by default.
  m.def("set_value_checks(bool enabled) -> bool", [](bool enabled) {
    return rnnt::value_checks_flag().exchange(enabled);
  });
  m.def("value_checks_enabled() -> bool", [] { return rnnt::value_checks_enabled(); });
  rnnt::define_ops<rnnt::ops::_checked_index>(m);
}
