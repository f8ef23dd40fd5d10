// The fused joiner losses: the joiner's log-probs chunk by chunk
// (rnnt::_fused_joiner_logprobs, with its own autograd), then the shared
// loss tail (loss_tail.h), or for TDT the duration lattice.
// CompositeImplicitAutograd: autograd comes from the parts, and
// torch.compile traces through them.
#include <torch/library.h>

#include <limits>
#include <utility>
#include <vector>

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
#include "recursion/recursion_ops.h"
#include "tdt/duration_lattice.h"
#include "tdt/tdt_ops.h"
#include "tdt/tdt_terms.h"

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

// Cell (b, t, s) of the full lattice scores symbol s, and the terminator
// at s = S (unused): the symbol_index of the fused joiner op.
at::Tensor full_symbol_index(const at::Tensor& symbols, int64_t termination_symbol,
                             const SymInt& T) {
  const SymInt B = symbols.sym_size(0), S = symbols.sym_size(1);
  const at::Tensor symbols_ext =
      at::cat({symbols, symbols.new_full_symint({B, 1}, termination_symbol)}, 1);
  return symbols_ext.unsqueeze(1).expand_symint({B, T, S + 1});
}

// The regular RNN-T px [B][S][T] and py [B][S+1][T] from the cells'
// symbol and blank log-probs [B][T][S+1].
at::Tensor px_of(const at::Tensor& symbol_lp, const SymInt& S) {
  return symbol_lp.narrow_symint(2, 0, S).transpose(1, 2);
}
at::Tensor py_of(const at::Tensor& blank_lp) { return blank_lp.transpose(1, 2); }

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
  const SymInt T = am.sym_size(1), C = weight.sym_size(0);
  auto logprobs = with_symbols_read(
      call.symbols, boundary, C, S, T, op, [&](const at::Tensor& symbols) {
    const at::Tensor symbol_index = full_symbol_index(symbols, termination_symbol, T);
    const auto [symbol_lp, blank_lp, log_norm, none] = ops::_fused_joiner_logprobs::call(
        am, lm, weight, bias, c10::nullopt, c10::nullopt, symbol_index, /*ranges=*/c10::nullopt,
        termination_symbol, boundary, activation, /*use_hat_loss=*/false, chunk_cells,
        sparse_backward);
    return finish_logprobs(px_of(symbol_lp, S), py_of(blank_lp), call.tail.type, boundary);
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
    const auto [px_kept, py_kept, log_norm, none] = ops::_fused_joiner_logprobs::call(
        am, lm, weight, bias, c10::nullopt, c10::nullopt, kept_symbols, kept,
        termination_symbol, boundary, activation, use_hat_loss, chunk_cells, sparse_backward);
    return ops::_pruned_lattice::call(px_kept, py_kept, kept, S.guard_int(__FILE__, __LINE__),
                                      rnnt_type, boundary);
  });
  return std::get<0>(call.finish(std::move(logprobs), /*return_grad=*/false));
}

// The TDT duration head: duration_weight [N][D] with N = len(durations),
// duration_bias [N] or None, am's dtype and device.
void check_duration_head(const at::Tensor& am, const at::Tensor& duration_weight,
                         const OptTensor& duration_bias, c10::IntArrayRef durations,
                         const char* op) {
  const auto N = static_cast<int64_t>(durations.size());
  TORCH_CHECK(duration_weight.dim() == 2, op,
              ": duration_weight must be 2-D [len(durations)][D], got ", duration_weight.dim(),
              "-D");
  TORCH_SYM_CHECK(duration_weight.sym_size(0).sym_eq(N).sym_and(
                      duration_weight.sym_size(1).sym_eq(am.sym_size(2))),
                  op, ": duration_weight must be [len(durations) = ", N, "][D = ",
                  am.sym_size(2), "], got [", duration_weight.sym_size(0), ", ",
                  duration_weight.sym_size(1), "]");
  std::vector<std::pair<const at::Tensor*, const char*>> heads{
      {&duration_weight, "duration_weight"}};
  if (duration_bias.has_value() && duration_bias->defined()) {
    TORCH_CHECK(duration_bias->dim() == 1, op, ": duration_bias must be 1-D [len(durations)],"
                " got ", duration_bias->dim(), "-D");
    TORCH_SYM_CHECK(duration_bias->sym_size(0).sym_eq(N), op,
                    ": duration_bias must be [len(durations) = ", N, "], got [",
                    duration_bias->sym_size(0), "]");
    heads.emplace_back(&*duration_bias, "duration_bias");
  }
  for (const auto& [t, name] : heads) {
    TORCH_CHECK(t->scalar_type() == am.scalar_type(), op, ": ", name,
                " must have the dtype of am (", am.scalar_type(), "), got ", t->scalar_type());
    check_same_device(*t, name, am, "am", op);
  }
}

// TDT (rnnt_loss_tdt's terms, duration_losses.cpp): the duration lattice
// in label_logprobs mode on per-cell label rows (class 0 the blank, class
// 1 the next symbol: -inf at s = S), beside the duration logits, then
// FastEmit's reported value and omega's mix with the regular RNN-T loss of
// the same cells.
at::Tensor rnnt_loss_tdt_fused(const at::Tensor& am, const at::Tensor& lm,
                               const at::Tensor& weight, const OptTensor& bias,
                               const at::Tensor& duration_weight,
                               const OptTensor& duration_bias, const at::Tensor& symbols_in,
                               int64_t termination_symbol, c10::IntArrayRef durations,
                               const OptTensor& boundary_in, c10::string_view activation,
                               double sigma, double omega, double fastemit_lambda,
                               c10::string_view reduction, bool zero_infinity,
                               int64_t chunk_cells, bool sparse_backward) {
  const LossCall call("rnnt::rnnt_loss_tdt_fused", symbols_in, boundary_in, "regular", 0.0,
                      fastemit_lambda, reduction, zero_infinity);
  const char* op = call.op;
  const OptTensor& boundary = call.boundary;
  const SymInt S = check_loss_inputs(am, lm, weight, bias, call.symbols, termination_symbol,
                                     boundary, RnntType::Regular, activation, chunk_cells, op);
  check_duration_head(am, duration_weight, duration_bias, durations, op);
  check_omega(omega, op);
  check_sigma(sigma, op);
  check_durations_count(durations, op);
  const std::vector<int64_t> arcs = tdt_arcs(durations, /*blank row=*/0, op);
  const SymInt T = am.sym_size(1), C = weight.sym_size(0);
  // Padding past U_b is never read (as in rnnt_loss_tdt).
  const at::Tensor padded = padding_as_blank(call.symbols, boundary, termination_symbol);
  const at::Tensor losses = with_symbols_read(
      padded, boundary, C, S, T, op, [&](const at::Tensor& symbols) {
    const auto [symbol_lp, blank_lp, log_norm, duration_logits] =
        ops::_fused_joiner_logprobs::call(
            am, lm, weight, bias, duration_weight, duration_bias,
            full_symbol_index(symbols, termination_symbol, T), /*ranges=*/c10::nullopt,
            termination_symbol, boundary, activation, /*use_hat_loss=*/false, chunk_cells,
            sparse_backward);
    const at::Tensor next_symbol = at::cat(
        {symbol_lp.narrow_symint(2, 0, S),
         at::full_like(symbol_lp.narrow(2, 0, 1), -std::numeric_limits<double>::infinity())},
        2);
    const at::Tensor label_rows = at::stack({blank_lp, next_symbol}, 3);
    const at::Tensor tdt = fastemit_reported(
        -ops::_duration_lattice::call(label_rows, duration_logits, at::ones_like(symbols),
                                      arcs, boundary, sigma, fastemit_lambda,
                                      /*label_logprobs=*/true),
        fastemit_lambda);
    return mix_omega(tdt, omega, [&] {
      const auto [px, py] = finish_logprobs(px_of(symbol_lp, S), py_of(blank_lp),
                                            RnntType::Regular, boundary);
      return -ops::mutual_information::call(px, py, boundary);
    });
  });
  return reduce(losses, call.tail.reduction, zero_infinity);
}

}  // namespace
}  // namespace fused_joiner

TORCH_LIBRARY_IMPL(rnnt, CompositeImplicitAutograd, m) {
  m.impl(ops::rnnt_loss_fused::name, &fused_joiner::rnnt_loss_fused);
  m.impl(ops::rnnt_loss_pruned_fused::name, &fused_joiner::rnnt_loss_pruned_fused);
  m.impl(ops::rnnt_loss_tdt_fused::name, &fused_joiner::rnnt_loss_tdt_fused);
}

}  // namespace rnnt
