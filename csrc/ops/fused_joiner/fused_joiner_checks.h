// Input checks of the fused joiner losses, naming the op and the argument.
// Shapes are SymInts so the composite ops trace under torch.compile.
#pragma once

#include <ATen/ATen.h>

#include "common/checks.h"

namespace rnnt {
namespace fused_joiner {

// am [B][T][D], lm [B][S+1][D], weight [C][D], bias [C] (optional): one
// floating dtype and one device.
inline void check_joiner_tensors(const at::Tensor& am, const at::Tensor& lm,
                                 const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                                 const char* op) {
  TORCH_CHECK(am.dim() == 3, op, ": am must be 3-D [B][T][D], got ", am.dim(), "-D");
  TORCH_CHECK(lm.dim() == 3, op, ": lm must be 3-D [B][S+1][D], got ", lm.dim(), "-D");
  TORCH_CHECK(weight.dim() == 2, op, ": weight must be 2-D [C][D], got ", weight.dim(), "-D");
  check_network_output(am, op, "am");
  for (const auto& [t, name] : {std::pair<const at::Tensor&, const char*>{lm, "lm"},
                                {weight, "weight"}}) {
    TORCH_CHECK(t.scalar_type() == am.scalar_type(), op, ": ", name,
                " must have the dtype of am (", am.scalar_type(), "), got ", t.scalar_type());
    check_same_device(t, name, am, "am", op);
  }
  TORCH_SYM_CHECK(lm.sym_size(0).sym_eq(am.sym_size(0)), op,
                  ": lm [B][S+1][D] must have am's batch size B = ", am.sym_size(0), ", got ",
                  lm.sym_size(0));
  TORCH_SYM_CHECK(lm.sym_size(1).sym_ge(1), op, ": lm must have S+1 >= 1 rows");
  const c10::SymInt D = am.sym_size(2);
  TORCH_SYM_CHECK(lm.sym_size(2).sym_eq(D).sym_and(weight.sym_size(1).sym_eq(D)), op,
                  ": am [B][T][D], lm [B][S+1][D] and weight [C][D] must agree on D, got ",
                  D, ", ", lm.sym_size(2), " and ", weight.sym_size(1));
  TORCH_SYM_CHECK(weight.sym_size(0).sym_ge(1), op, ": weight must have C >= 1 rows");
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->dim() == 1, op, ": bias must be 1-D [C], got ", bias->dim(), "-D");
    TORCH_CHECK(bias->scalar_type() == am.scalar_type(), op,
                ": bias must have the dtype of am (", am.scalar_type(), "), got ",
                bias->scalar_type());
    check_same_device(*bias, "bias", am, "am", op);
    TORCH_SYM_CHECK(bias->sym_size(0).sym_eq(weight.sym_size(0)), op,
                    ": bias must be [C] with C = weight.size(0) = ", weight.sym_size(0),
                    ", got [", bias->sym_size(0), "]");
  }
}

// ranges int64 [B][T][s_range] with 1 <= s_range <= S + 1, on am's device.
inline void check_ranges(const at::Tensor& ranges, const at::Tensor& am, const c10::SymInt& S,
                         const char* op) {
  TORCH_CHECK(ranges.dim() == 3 && ranges.scalar_type() == at::kLong, op,
              ": ranges must be an int64 [B][T][s_range] tensor, got a ", ranges.dim(), "-D ",
              ranges.scalar_type(), " tensor");
  TORCH_SYM_CHECK(ranges.sym_size(0).sym_eq(am.sym_size(0)).sym_and(
                      ranges.sym_size(1).sym_eq(am.sym_size(1))),
                  op, ": ranges must be [B][T][s_range] with [B, T] = [", am.sym_size(0), ", ",
                  am.sym_size(1), "] (am's), got [", ranges.sym_size(0), ", ",
                  ranges.sym_size(1), ", ", ranges.sym_size(2), "]");
  TORCH_SYM_CHECK(ranges.sym_size(2).sym_ge(1).sym_and(ranges.sym_size(2).sym_le(S + 1)), op,
                  ": s_range = ranges.size(2) = ", ranges.sym_size(2),
                  " must be in [1, S + 1 = ", S + 1, "]");
  check_same_device(ranges, "ranges", am, "am", op);
}

}  // namespace fused_joiner
}  // namespace rnnt
