// The TDT and multi-blank transducer losses: their arc kinds, the lattice
// (rnnt::_duration_lattice), FastEmit's reported value, TDT's omega mix with
// the regular RNN-T loss, and the reduction. CompositeImplicitAutograd:
// autograd comes from the parts.
#include <torch/library.h>

#include <set>
#include <vector>

#include "common/checks.h"
#include "duration_lattice.h"
#include "tdt_ops.h"
#include "losses/loss_tail.h"
#include "losses/losses_ops.h"

namespace rnnt {
namespace {

// TDT: a blank with every duration >= 1, the next symbol with every duration.
std::vector<int64_t> tdt_arcs(c10::IntArrayRef durations, int64_t blank, const char* op) {
  TORCH_CHECK_VALUE(!durations.empty(), op, ": durations must not be empty");
  std::set<int64_t> seen;
  bool has_blank_duration = false;
  std::vector<int64_t> arcs;
  for (size_t i = 0; i < durations.size(); ++i) {
    const int64_t d = durations[i];
    TORCH_CHECK_VALUE(d >= 0, op, ": durations must be >= 0, got ", durations);
    TORCH_CHECK_VALUE(seen.insert(d).second, op, ": durations must be distinct, got ",
                      durations);
    if (d >= 1) {
      arcs.insert(arcs.end(), {blank, d, static_cast<int64_t>(i)});
      has_blank_duration = true;
    }
    arcs.insert(arcs.end(), {kNextSymbol, d, static_cast<int64_t>(i)});
  }
  TORCH_CHECK_VALUE(has_blank_duration, op,
                    ": durations must contain a duration >= 1 (blanks need one), got ",
                    durations);
  return arcs;
}

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

// The size of a tensor's last dimension (classes, durations): an int that
// torch.compile specialises on, leaving B, T and S symbolic.
int64_t last_dim(const at::Tensor& t) {
  return t.sym_size(-1).guard_int(__FILE__, __LINE__);
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
  TORCH_CHECK(duration_logits.dim() == 4 &&
                  last_dim(duration_logits) == static_cast<int64_t>(durations.size()),
              op, ": duration_logits must be [B][T][S+1][D] with D = len(durations) = ",
              durations.size(), ", got D = ", last_dim(duration_logits));
  TORCH_CHECK_VALUE(omega >= 0.0 && omega <= 1.0, op, ": omega must be in [0, 1], got ", omega);
  const std::vector<int64_t> arcs = tdt_arcs(durations, termination_symbol, op);
  // The lattice scales the symbol arcs' gradient (FastEmit); the reported
  // value is scaled here.
  at::Tensor losses = fastemit_reported(
      -ops::_duration_lattice::call(logits, duration_logits, call.symbols, arcs, call.boundary,
                                    sigma, fastemit_lambda),
      fastemit_lambda);
  if (omega != 0.0) {
    losses = (1.0 - omega) * losses +
             omega * regular_rnnt_losses(logits, call.symbols, termination_symbol, call.boundary);
  }
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
  const std::vector<int64_t> arcs =
      multiblank_arcs(big_blank_ids, big_blank_durations, termination_symbol, C, call.op);
  const at::Tensor losses = -ops::_duration_lattice::call(logits, c10::nullopt, call.symbols, arcs,
                                                          call.boundary, sigma, 0.0);
  return reduce(losses, call.tail.reduction, zero_infinity);
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CompositeImplicitAutograd, m) {
  m.impl(ops::rnnt_loss_tdt::name, &rnnt_loss_tdt);
  m.impl(ops::rnnt_loss_multiblank::name, &rnnt_loss_multiblank);
}

}  // namespace rnnt
