// The fused joiner losses: the joiner's log-probs chunk by chunk
// (rnnt::_fused_joiner_logprobs, with its own autograd), then the shared
// loss tail (loss_tail.h). CompositeImplicitAutograd: autograd comes from
// the parts, and torch.compile traces through them.
#include <torch/library.h>

#include "common/checked_index.h"
#include "common/checks.h"
#include "common/op_names.h"
#include "common/read_ahead.h"
#include "fused_joiner_checks.h"
#include "fused_joiner_chunks.h"
#include "fused_joiner_ops.h"
#include "losses/logprobs.h"
#include "losses/loss_tail.h"
#include "pruned_lattice/pruned_lattice_ops.h"

namespace rnnt {
namespace fused_joiner {
namespace {

using OptTensor = c10::optional<at::Tensor>;

using c10::SymInt;

// The checks shared by both losses; returns S.
SymInt check_loss_inputs(const at::Tensor& am, const at::Tensor& lm, const at::Tensor& weight,
                         const OptTensor& bias, const at::Tensor& symbols,
                         int64_t termination_symbol, const OptTensor& boundary, RnntType type,
                         c10::string_view activation, int64_t chunk_cells, const char* op) {
  parse_activation(activation, op);
  TORCH_CHECK_VALUE(chunk_cells >= 0, op,
                    ": chunk_cells must be >= 0 (0: sized from the memory budget), got ",
                    chunk_cells);
  check_joiner_tensors(am, lm, weight, bias, op);
  const SymInt B = am.sym_size(0), T = am.sym_size(1), S = lm.sym_size(1) - 1;
  check_same_device(symbols, "symbols", am, "am", op);
  check_symbols(symbols, B, S, am, op);
  check_termination_symbol(termination_symbol, weight.sym_size(0), op);
  check_boundary_shape(boundary, B, am, op);
  check_symbols_fit_frames(type, S, T, boundary, op);
  return S;
}

at::Tensor rnnt_loss_fused(const at::Tensor& am, const at::Tensor& lm, const at::Tensor& weight,
                           const OptTensor& bias, const at::Tensor& symbols_in,
                           int64_t termination_symbol, const OptTensor& boundary_in,
                           c10::string_view activation, c10::string_view rnnt_type,
                           double delay_penalty, c10::string_view reduction,
                           bool zero_infinity, int64_t chunk_cells, double fastemit_lambda,
                           bool sparse_backward) {
  const LossCall call("rnnt::rnnt_loss_fused", symbols_in, boundary_in, rnnt_type,
                      delay_penalty, fastemit_lambda, reduction, zero_infinity);
  const char* op = call.op;
  const OptTensor& boundary = call.boundary;
  const SymInt S = check_loss_inputs(am, lm, weight, bias, call.symbols, termination_symbol,
                                     boundary, call.tail.type, activation, chunk_cells, op);
  const SymInt B = am.sym_size(0), T = am.sym_size(1), C = weight.sym_size(0);
  auto logprobs = with_symbols_read(
      call.symbols, boundary, C, S, T, op, [&](const at::Tensor& symbols) {
    // Cell (b, t, s) scores symbol s (the terminator at s = S, unused).
    const at::Tensor symbols_ext =
        at::cat({symbols, symbols.new_full_symint({B, 1}, termination_symbol)}, 1);
    const at::Tensor symbol_index = symbols_ext.unsqueeze(1).expand_symint({B, T, S + 1});
    const auto [symbol_lp, blank_lp, log_norm] = ops::_fused_joiner_logprobs::call(
        am, lm, weight, bias, symbol_index, /*ranges=*/c10::nullopt, termination_symbol,
        boundary, activation, /*use_hat_loss=*/false, chunk_cells, sparse_backward);
    const at::Tensor px = symbol_lp.narrow_symint(2, 0, S).transpose(1, 2);  // [B][S][T]
    const at::Tensor py = blank_lp.transpose(1, 2);                          // [B][S+1][T]
    return finish_logprobs(px, py, call.tail.type, boundary);
  });
  return std::get<0>(call.finish(std::move(logprobs), /*return_grad=*/false));
}

at::Tensor rnnt_loss_pruned_fused(const at::Tensor& am, const at::Tensor& lm,
                                  const at::Tensor& ranges, const at::Tensor& weight,
                                  const OptTensor& bias, const at::Tensor& symbols_in,
                                  int64_t termination_symbol, const OptTensor& boundary_in,
                                  c10::string_view activation, c10::string_view rnnt_type,
                                  double delay_penalty, c10::string_view reduction,
                                  bool use_hat_loss, bool zero_infinity, int64_t chunk_cells,
                                  double fastemit_lambda, bool sparse_backward) {
  const LossCall call("rnnt::rnnt_loss_pruned_fused", symbols_in, boundary_in, rnnt_type,
                      delay_penalty, fastemit_lambda, reduction, zero_infinity);
  const char* op = call.op;
  const OptTensor& boundary = call.boundary;
  const SymInt S = check_loss_inputs(am, lm, weight, bias, call.symbols, termination_symbol,
                                     boundary, call.tail.type, activation, chunk_cells, op);
  check_ranges(ranges, am, S, op);
  TORCH_CHECK_VALUE(!use_hat_loss || termination_symbol == 0, op,
                    ": use_hat_loss=True needs the blank (termination_symbol) to be 0, got ",
                    termination_symbol);
  const SymInt B = am.sym_size(0), T = am.sym_size(1), C = weight.sym_size(0);
  auto logprobs = with_symbols_read(
      call.symbols, boundary, C, S, T, op, [&](const at::Tensor& symbols) {
    // Slot (b, t, r) is label position ranges[b, t, r]: its decoder row and
    // symbol (the terminator at position S).
    const at::Tensor symbols_ext =
        at::cat({symbols, symbols.new_full_symint({B, 1}, termination_symbol)}, 1);
    const at::Tensor kept = call_checked_index(ranges, S + 1, "ranges");
    const at::Tensor kept_symbols =
        at::gather(symbols_ext.unsqueeze(1).expand_symint({B, T, S + 1}), 2, kept);
    const auto [px_kept, py_kept, log_norm] = ops::_fused_joiner_logprobs::call(
        am, lm, weight, bias, kept_symbols, kept, termination_symbol, boundary, activation,
        use_hat_loss, chunk_cells, sparse_backward);
    return ops::_pruned_lattice::call(px_kept, py_kept, kept, S.guard_int(__FILE__, __LINE__),
                                      rnnt_type, boundary);
  });
  return std::get<0>(call.finish(std::move(logprobs), /*return_grad=*/false));
}

}  // namespace
}  // namespace fused_joiner

TORCH_LIBRARY_IMPL(rnnt, CompositeImplicitAutograd, m) {
  m.impl(ops::rnnt_loss_fused::name, &fused_joiner::rnnt_loss_fused);
  m.impl(ops::rnnt_loss_pruned_fused::name, &fused_joiner::rnnt_loss_pruned_fused);
}

}  // namespace rnnt
