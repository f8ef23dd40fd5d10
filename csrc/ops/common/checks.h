// Options and shape checks shared by the loss ops. Sizes are c10::SymInt so
// the composite ops trace under torch.compile with dynamic shapes; checks on
// values (symbol ids, boundaries) live in backend kernels, never here.
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <c10/core/SymBool.h>

#include <string>

namespace rnnt {

enum class RnntType { Regular, Modified, Constrained };
enum class Reduction { None, Mean, Sum };

inline std::string shape_str(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) {
    out += (i ? ", " : "") + std::to_string(t.size(i));
  }
  return out + "]";
}

// An optional tensor's data, or null (what the kernels take for "none").
template <typename scalar_t>
scalar_t* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<scalar_t>() : nullptr;
}

// t: float32 or float64 (what the kernels compute in).
inline void check_float(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
              op, ": ", name, " must be float32 or float64, got ",
              t.scalar_type());
}

inline RnntType parse_rnnt_type(c10::string_view name, const char* op) {
  if (name == "regular") return RnntType::Regular;
  if (name == "modified") return RnntType::Modified;
  if (name == "constrained") return RnntType::Constrained;
  TORCH_CHECK_VALUE(false, op,
                    ": rnnt_type must be 'regular', 'modified' or "
                    "'constrained', got '", std::string(name), "'");
}

inline Reduction parse_reduction(c10::string_view name, const char* op) {
  if (name == "none") return Reduction::None;
  if (name == "mean") return Reduction::Mean;
  if (name == "sum") return Reduction::Sum;
  TORCH_CHECK_VALUE(false, op,
                    ": reduction must be 'none', 'mean' or 'sum', got '",
                    std::string(name), "'");
}

// Network outputs (lm, am, logits) may also be float16/bfloat16: the losses
// accumulate them in float32.
inline void check_network_output(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), op, ": ", name,
              " must be float16, bfloat16, float32 or float64, got ", t.scalar_type());
}

// float16/bfloat16 -> float32 (a copy of a small [B][T][C] / [B][S+1][C]
// tensor; autograd casts the gradient back).
inline at::Tensor to_accumulation_dtype(const at::Tensor& t) {
  return t.to(at::toOpMathType(t.scalar_type()));
}

inline void check_same_device(const at::Tensor& a, const char* a_name,
                              const at::Tensor& b, const char* b_name,
                              const char* op) {
  TORCH_CHECK(a.device() == b.device(), op, ": ", a_name, " and ", b_name,
              " must be on the same device, got ", a.device(), " and ",
              b.device());
}

// symbols and boundary may be int32 (torchaudio's index dtype) as well as
// int64: int32 is converted (a copy of a [B][S] or [B][4] tensor) by the
// public ops on entry; anything else passes through for the checks to name.
inline at::Tensor int64_index(const at::Tensor& t) {
  return t.defined() && t.scalar_type() == at::kInt ? t.to(at::kLong) : t;
}
inline c10::optional<at::Tensor> int64_index(const c10::optional<at::Tensor>& t) {
  if (!t.has_value()) return t;
  return int64_index(*t);
}

// symbols: int64 [B][S] on `like`'s device.
inline void check_symbols(const at::Tensor& symbols, const c10::SymInt& B,
                          const c10::SymInt& S, const at::Tensor& like,
                          const char* op) {
  TORCH_CHECK(symbols.dim() == 2, op, ": symbols must be 2-D [B][S], got ",
              symbols.dim(), "-D");
  TORCH_CHECK(symbols.scalar_type() == at::kLong, op,
              ": symbols must be int64, got ", symbols.scalar_type());
  TORCH_SYM_CHECK(symbols.sym_size(0).sym_eq(B).sym_and(symbols.sym_size(1).sym_eq(S)),
                  op, ": symbols must be [B][S] = [", B, ", ", S, "], got [",
                  symbols.sym_size(0), ", ", symbols.sym_size(1), "]");
  check_same_device(symbols, "symbols", like, "the logits", op);
}

inline void check_termination_symbol(int64_t termination_symbol,
                                     const c10::SymInt& C, const char* op) {
  TORCH_CHECK_VALUE(termination_symbol >= 0 &&
                        C.sym_gt(termination_symbol).guard_bool(__FILE__, __LINE__),
                    op, ": termination_symbol must be in [0, C = ", C,
                    "), got ", termination_symbol);
}

// An index tensor (boundary, lengths) on `like`'s device, or on the CPU
// beside a real device (the ops move a [B][4] tensor there); never a meta
// tensor beside real ones or the reverse.
inline void check_index_device(const at::Tensor& t, const char* name, const at::Tensor& like,
                               const char* like_name, const char* op) {
  const bool movable = t.is_cpu() && !like.is_meta();
  TORCH_CHECK(t.device() == like.device() || movable, op, ": ", name, " must be on the device of ",
              like_name, " (", like.device(), ") or on the CPU, got ", t.device());
}

// boundary: optional int64 [B][4] on `like`'s device (or the CPU); its
// values are checked by the recursion.
inline void check_boundary_shape(const c10::optional<at::Tensor>& boundary,
                                 const c10::SymInt& B, const at::Tensor& like, const char* op) {
  if (!boundary.has_value() || !boundary->defined()) return;
  check_index_device(*boundary, "boundary", like, "the logits", op);
  TORCH_CHECK(boundary->dim() == 2 && boundary->scalar_type() == at::kLong,
              op, ": boundary must be an int64 [B][4] tensor, got a ",
              boundary->dim(), "-D ", boundary->scalar_type(), " tensor");
  TORCH_SYM_CHECK(boundary->sym_size(0).sym_eq(B).sym_and(boundary->sym_size(1).sym_eq(4)),
                  op, ": boundary must be [B][4] with B = ", B, ", got [",
                  boundary->sym_size(0), ", ", boundary->sym_size(1), "]");
}

// Modified/constrained emit at most one symbol per frame: without a
// boundary, S > T means no item has a path.
inline void check_symbols_fit_frames(RnntType type, const c10::SymInt& S,
                                     const c10::SymInt& T,
                                     const c10::optional<at::Tensor>& boundary,
                                     const char* op) {
  if (type == RnntType::Regular || (boundary.has_value() && boundary->defined())) return;
  TORCH_SYM_CHECK(S.sym_le(T), op,
                  ": rnnt_type 'modified'/'constrained' emits at most one "
                  "symbol per frame, so it needs S <= T without a boundary; "
                  "got S = ", S, ", T = ", T);
}

}  // namespace rnnt
