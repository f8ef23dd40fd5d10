// The TDT and multi-blank transducer losses: their arc kinds, the lattice
// (rnnt::_duration_lattice), FastEmit's reported value, TDT's omega mix with
// the regular RNN-T loss, and the reduction. CompositeImplicitAutograd:
// autograd comes from the parts.
#include <torch/library.h>

#include <set>
#include <vector>

#include "common/checked_index.h"
#include "common/checks.h"
#include "common/eager.h"
#include "duration_lattice.h"
#include "tdt_ops.h"
#include "tdt_terms.h"
#include "losses/loss_tail.h"
#include "losses/losses_ops.h"

namespace rnnt {
namespace {

// Multi-blank: the standard blank (duration 1), the big blanks, the next
// symbol (duration 0).
std::vector<int64_t> multiblank_arcs(c10::IntArrayRef ids, c10::IntArrayRef durations,
                                     int64_t blank, int64_t C, const char* op) {
  TORCH_CHECK_VALUE(ids.size() == durations.size(), op,
                    ": big_blank_ids and big_blank_durations must have the same length, got ",
                    ids.size(), " and ", durations.size());
  std::set<int64_t> seen{blank};
  std::vector<int64_t> arcs{blank, 1, -1, kNextSymbol, 0, -1};
  for (size_t i = 0; i < ids.size(); ++i) {
    TORCH_CHECK_VALUE(ids[i] >= 0 && ids[i] < C, op, ": big_blank_ids must be in [0, C = ", C,
                      "), got ", ids);
    TORCH_CHECK_VALUE(seen.insert(ids[i]).second, op,
                      ": big_blank_ids must be distinct and differ from termination_symbol = ",
                      blank, ", got ", ids);
    TORCH_CHECK_VALUE(durations[i] >= 2, op, ": big_blank_durations must be >= 2, got ",
                      durations);
    arcs.insert(arcs.end(), {ids[i], durations[i], -1});
  }
  return arcs;
}

// Returns C, the number of classes.
int64_t check_blank(int64_t termination_symbol, const at::Tensor& logits, const char* op) {
  TORCH_CHECK(logits.dim() == 4, op, ": logits must be 4-D [B][T][S+1][C], got ",
              logits.dim(), "-D");
  const int64_t C = last_dim(logits);
  TORCH_CHECK_VALUE(termination_symbol >= 0 && termination_symbol < C, op,
                    ": termination_symbol must be in [0, C = ", C, "), got ",
                    termination_symbol);
  return C;
}

// The symbols the lattice reads. Traced (torch.compile, export), a graph
// op checks them as well, naming the loss when the graph runs: the
// lattice kernel's own check can only name itself there. Padding past
// U_b, never read, becomes the blank first.
at::Tensor lattice_symbols(const at::Tensor& symbols, const c10::optional<at::Tensor>& boundary,
                           int64_t blank, int64_t C) {
  if (is_eager(symbols)) return symbols;
  return call_checked_index(padding_as_blank(symbols, boundary, blank), C, "symbols");
}

// The regular RNN-T loss per item (TDT's omega term).
at::Tensor regular_rnnt_losses(const at::Tensor& logits, const at::Tensor& symbols,
                               int64_t termination_symbol,
                               const c10::optional<at::Tensor>& boundary) {
  return ops::rnnt_loss::call(logits, symbols, termination_symbol, boundary, "regular", 0.0,
                              "none", false, false, 0.0);
}

at::Tensor rnnt_loss_tdt(const at::Tensor& logits, const at::Tensor& duration_logits,
                         const at::Tensor& symbols, int64_t termination_symbol,
                         c10::IntArrayRef durations, const c10::optional<at::Tensor>& boundary,
                         double sigma, double omega, double fastemit_lambda,
                         c10::string_view reduction, bool zero_infinity) {
  const LossCall call("rnnt::rnnt_loss_tdt", symbols, boundary, "regular", 0.0,
                      fastemit_lambda, reduction, zero_infinity);
  const char* op = call.op;
  check_blank(termination_symbol, logits, op);
  TORCH_CHECK(duration_logits.dim() == 4, op,
              ": duration_logits must be 4-D [B][T][S+1][D], got ", duration_logits.dim(), "-D");
  TORCH_CHECK(last_dim(duration_logits) == static_cast<int64_t>(durations.size()), op,
              ": duration_logits must be [B][T][S+1][D] with D = len(durations) = ",
              durations.size(), ", got D = ", last_dim(duration_logits));
  check_tdt_devices(logits, "logits", call.symbols, call.boundary, duration_logits,
                    "duration_logits", op);
  check_omega(omega, op);
  check_sigma(sigma, op);
  check_durations_count(durations, op);
  const std::vector<int64_t> arcs = tdt_arcs(durations, termination_symbol, op);
  // The lattice scales the symbol arcs' gradient (FastEmit); the reported
  // value is scaled here.
  const at::Tensor symbols_read =
      lattice_symbols(call.symbols, call.boundary, termination_symbol, last_dim(logits));
  const at::Tensor tdt = fastemit_reported(
      -ops::_duration_lattice::call(logits, duration_logits, symbols_read, arcs, call.boundary,
                                    sigma, fastemit_lambda, false),
      fastemit_lambda);
  const at::Tensor losses = mix_omega(tdt, omega, [&] {
    return regular_rnnt_losses(logits,
                               padding_as_blank(call.symbols, call.boundary, termination_symbol),
                               termination_symbol, call.boundary);
  });
  return reduce(losses, call.tail.reduction, zero_infinity);
}

at::Tensor rnnt_loss_multiblank(const at::Tensor& logits, const at::Tensor& symbols,
                                int64_t termination_symbol, c10::IntArrayRef big_blank_ids,
                                c10::IntArrayRef big_blank_durations,
                                const c10::optional<at::Tensor>& boundary, double sigma,
                                c10::string_view reduction, bool zero_infinity) {
  const LossCall call("rnnt::rnnt_loss_multiblank", symbols, boundary, "regular", 0.0, 0.0,
                      reduction, zero_infinity);
  const int64_t C = check_blank(termination_symbol, logits, call.op);
  check_tdt_devices(logits, "logits", call.symbols, call.boundary, at::Tensor(), "", call.op);
  check_sigma(sigma, call.op);
  TORCH_CHECK_VALUE(static_cast<int64_t>(big_blank_ids.size()) + 2 <= kMaxDurationArcs, call.op,
                    ": at most ", kMaxDurationArcs - 2, " big blanks, got ",
                    big_blank_ids.size());
  const std::vector<int64_t> arcs =
      multiblank_arcs(big_blank_ids, big_blank_durations, termination_symbol, C, call.op);
  const at::Tensor losses = -ops::_duration_lattice::call(
      logits, c10::nullopt, lattice_symbols(call.symbols, call.boundary, termination_symbol, C),
      arcs, call.boundary, sigma, 0.0, false);
  return reduce(losses, call.tail.reduction, zero_infinity);
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CompositeImplicitAutograd, m) {
  m.impl(ops::rnnt_loss_tdt::name, &rnnt_loss_tdt);
  m.impl(ops::rnnt_loss_multiblank::name, &rnnt_loss_multiblank);
}

}  // namespace rnnt
