// px/py of the full and pruned losses (k2/fast_rnnt definitions), from
// logits [B][T][S+1][C] (full) or [B][T][s_range][C] (pruned), as
// CompositeImplicitAutograd ops: compositions of ATen and the joiner and
// pruned lattice ops, whose gradients come from those ops. symbols [B][S];
// px [B][S][T+1] (regular) or [B][S][T], py [B][S+1][T]. finish_logprobs
// serves every construction (simple_logprobs.cpp has the simple and
// smoothed ones).
#include <torch/library.h>

#include <limits>

#include "common/checked_index.h"
#include "common/checks.h"
#include "common/eager.h"
#include "common/op_names.h"
#include "common/read_ahead.h"
#include "logprobs.h"
#include "joiner/joiner_ops.h"
#include "pruned_lattice/pruned_lattice_ops.h"

namespace rnnt {

using c10::SymInt;

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

}  // namespace

std::tuple<at::Tensor, at::Tensor> finish_logprobs(
    at::Tensor px, const at::Tensor& py, RnntType type,
    const c10::optional<at::Tensor>& boundary) {
  const SymInt B = px.sym_size(0), S = px.sym_size(1), T = px.sym_size(2);
  if (type == RnntType::Regular) {
    // Column T (and, per item, column t_end) is -inf: no symbol can be
    // emitted on the one-past-the-last frame.
    px = at::cat({px, px.new_full_symint({B, S, 1}, kNegInf)}, 2);
    if (boundary.has_value() && boundary->defined()) {
      const at::Tensor frame = at::arange(T + 1, boundary->options()).view({1, 1, -1});
      const at::Tensor past_end = frame == boundary->select(1, 3).view({-1, 1, 1});
      px = at::where(past_end, at::scalar_tensor(kNegInf, px.options()), px);
    }
  } else if (type == RnntType::Constrained) {
    // Emitting a symbol also consumes the frame: add the blank that follows.
    px = px + py.narrow_symint(1, 1, S);
  }
  return {px, py};
}

namespace {

// The px/py of each public op below, for symbols that index safely (checked,
// or clamped while their read is pending: read_ahead.h).

std::tuple<at::Tensor, at::Tensor> joint_logprobs(const at::Tensor& logits,
                                                  const at::Tensor& symbols,
                                                  int64_t termination_symbol,
                                                  const c10::optional<at::Tensor>& boundary,
                                                  RnntType type, bool inplace_grad) {
  const SymInt B = logits.sym_size(0), T = logits.sym_size(1), S = logits.sym_size(2) - 1;
  // Fused: one pass over each logits row gives its symbol and blank
  // log-probs (the symbol at position S is the terminator, unused).
  const at::Tensor symbols_ext =
      at::cat({symbols, symbols.new_full_symint({B, 1}, termination_symbol)}, 1);  // [B][S+1]
  const at::Tensor index = symbols_ext.unsqueeze(1).expand_symint({B, T, S + 1});
  const auto [symbol_logp, blank_logp, log_norm] =
      ops::_joiner_logprobs::call(logits, index, termination_symbol, inplace_grad);  // [B][T][S+1]
  const at::Tensor px = symbol_logp.narrow_symint(2, 0, S).transpose(1, 2);  // [B][S][T]
  const at::Tensor py = blank_logp.transpose(1, 2);                          // [B][S+1][T]
  return finish_logprobs(px, py, type, boundary);
}

std::tuple<at::Tensor, at::Tensor> pruned_logprobs(
    const at::Tensor& logits, const at::Tensor& symbols, const at::Tensor& ranges,
    int64_t termination_symbol, const c10::optional<at::Tensor>& boundary,
    c10::string_view rnnt_type, RnntType type, bool use_hat_loss, bool inplace_grad) {
  const SymInt B = logits.sym_size(0), T = logits.sym_size(1), C = logits.sym_size(3);
  const SymInt S = symbols.sym_size(1);
  // The symbol at each kept position; position S holds the terminator.
  const at::Tensor symbols_ext = at::cat(
      {symbols, symbols.new_full_symint({B, 1}, termination_symbol)}, 1);  // [B][S+1]
  const at::Tensor kept = call_checked_index(ranges, S + 1, "ranges");
  const at::Tensor kept_symbols =
      at::gather(symbols_ext.unsqueeze(1).expand_symint({B, T, S + 1}), 2, kept);  // [B][T][R]

  at::Tensor px_kept, py_kept;  // [B][T][R]
  if (use_hat_loss) {
    // HAT: blank ~ sigmoid(logit_0); a label is (1 - that) times a softmax
    // over the labels alone. log(1 - sigmoid(x)) = logsigmoid(-x).
    const at::Tensor x = to_accumulation_dtype(logits);
    const at::Tensor blank_logit = x.select(3, 0);
    const at::Tensor label_norm = at::logsumexp(x.narrow_symint(3, 1, C - 1), {3});
    px_kept = at::gather(x, 3, kept_symbols.unsqueeze(3)).squeeze(3) - label_norm +
              at::log_sigmoid(-blank_logit);
    py_kept = at::log_sigmoid(blank_logit);
  } else {
    std::tie(px_kept, py_kept, std::ignore) =
        ops::_joiner_logprobs::call(logits, kept_symbols, termination_symbol, inplace_grad);
  }
  if (is_eager(px_kept) && is_eager(kept) && is_eager_boundary(boundary, logits.device())) {
    // One kernel each way (pruned_lattice_ops.h) for what follows.
    return ops::_pruned_lattice::call(px_kept, py_kept, kept, S.expect_int(), rnnt_type, boundary);
  }
  // Scatter the kept positions into the full lattice; the rest is -inf.
  const at::Tensor lattice = px_kept.new_full_symint({B, T, S + 1}, kNegInf);
  const at::Tensor px = lattice.scatter(2, kept, px_kept).narrow_symint(2, 0, S).transpose(1, 2);
  const at::Tensor py = lattice.scatter(2, kept, py_kept).transpose(1, 2);
  return finish_logprobs(px, py, type, boundary);
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> get_rnnt_logprobs_joint(
    const at::Tensor& logits, const at::Tensor& symbols_arg,
    int64_t termination_symbol, const c10::optional<at::Tensor>& boundary_arg,
    c10::string_view rnnt_type, bool inplace_grad) {
  const at::Tensor symbols_in = int64_index(symbols_arg);
  const c10::optional<at::Tensor> boundary = int64_index(boundary_arg);
  const char* op = op_name("rnnt::get_rnnt_logprobs_joint");
  const OpNameScope scope(op);
  const RnntType type = parse_rnnt_type(rnnt_type, op);
  TORCH_CHECK(logits.dim() == 4, op, ": logits must be 4-D [B][T][S+1][C], got ",
              logits.dim(), "-D");
  check_network_output(logits, op, "logits");
  TORCH_SYM_CHECK(logits.sym_size(2).sym_ge(1), op, ": logits must have S+1 >= 1 rows");
  TORCH_CHECK(symbols_in.dim() == 2, op, ": symbols must be 2-D [B][S], got ", symbols_in.dim(),
              "-D");
  TORCH_SYM_CHECK(logits.sym_size(2).sym_eq(symbols_in.sym_size(1) + 1), op,
                  ": logits [B][T][S+1][C] and symbols [B][S] disagree on S: logits.size(2) = S+1 = ",
                  logits.sym_size(2), ", symbols [", symbols_in.sym_size(0), ", ",
                  symbols_in.sym_size(1), "] has S = ", symbols_in.sym_size(1), " symbols");
  const SymInt B = logits.sym_size(0), T = logits.sym_size(1);
  const SymInt S = logits.sym_size(2) - 1, C = logits.sym_size(3);
  check_symbols(symbols_in, B, S, logits, op);
  check_termination_symbol(termination_symbol, C, op);
  check_boundary_shape(boundary, B, logits, op);
  check_symbols_fit_frames(type, S, T, boundary, op);
  return with_symbols_read(symbols_in, boundary, C, S, T, op,
                           [&](const at::Tensor& symbols) {
    return joint_logprobs(logits, symbols, termination_symbol, boundary, type, inplace_grad);
  });
}

std::tuple<at::Tensor, at::Tensor> get_rnnt_logprobs_pruned(
    const at::Tensor& logits, const at::Tensor& symbols_arg,
    const at::Tensor& ranges, int64_t termination_symbol,
    const c10::optional<at::Tensor>& boundary_arg, c10::string_view rnnt_type,
    bool use_hat_loss, bool inplace_grad) {
  const at::Tensor symbols_in = int64_index(symbols_arg);
  const c10::optional<at::Tensor> boundary = int64_index(boundary_arg);
  const char* op = op_name("rnnt::get_rnnt_logprobs_pruned");
  const OpNameScope scope(op);
  const RnntType type = parse_rnnt_type(rnnt_type, op);
  TORCH_CHECK(logits.dim() == 4, op, ": logits must be 4-D [B][T][s_range][C], got ",
              logits.dim(), "-D");
  check_network_output(logits, op, "logits");
  const SymInt B = logits.sym_size(0), T = logits.sym_size(1);
  const SymInt R = logits.sym_size(2), C = logits.sym_size(3);
  TORCH_CHECK(symbols_in.dim() == 2, op, ": symbols must be 2-D [B][S], got ",
              symbols_in.dim(), "-D");
  const SymInt S = symbols_in.sym_size(1);
  check_symbols(symbols_in, B, S, logits, op);
  check_termination_symbol(termination_symbol, C, op);
  check_boundary_shape(boundary, B, logits, op);
  check_symbols_fit_frames(type, S, T, boundary, op);
  TORCH_CHECK(ranges.dim() == 3 && ranges.scalar_type() == at::kLong, op,
              ": ranges must be an int64 [B][T][s_range] tensor, got a ",
              ranges.dim(), "-D ", ranges.scalar_type(), " tensor");
  TORCH_SYM_CHECK(ranges.sym_size(0).sym_eq(B).sym_and(ranges.sym_size(1).sym_eq(T))
                      .sym_and(ranges.sym_size(2).sym_eq(R)),
                  op, ": ranges must be [B][T][s_range] = [", B, ", ", T, ", ", R,
                  "] to match logits, got [", ranges.sym_size(0), ", ",
                  ranges.sym_size(1), ", ", ranges.sym_size(2), "]");
  TORCH_SYM_CHECK(R.sym_le(S + 1), op, ": s_range = logits.size(2) = ", R,
                  " must be <= S + 1 = ", S + 1);
  check_same_device(ranges, "ranges", logits, "logits", op);
  TORCH_CHECK_VALUE(!use_hat_loss || termination_symbol == 0, op,
                    ": use_hat_loss=True needs the blank (termination_symbol) "
                    "to be 0, got ", termination_symbol);
  return with_symbols_read(symbols_in, boundary, C, S, T, op,
                           [&](const at::Tensor& symbols) {
    return pruned_logprobs(logits, symbols, ranges, termination_symbol, boundary, rnnt_type,
                           type, use_hat_loss, inplace_grad);
  });
}

}  // namespace rnnt
