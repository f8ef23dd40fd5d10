// The simple and pruned TDT losses (rnnt_ops/tdt.py; docs/api.md, "Pruned
// TDT"). Both reduce the TDT lattice to two label log-probs per node, the
// blank's and the next symbol's, taken from the RNN-T (px, py) of the
// label joiner: get_rnnt_logprobs (lm + am, never a [B][T][S+1][C]
// tensor) or get_rnnt_logprobs_pruned (the pruned joiner's logits, -inf
// outside the windows). They run the duration lattice in label_logprobs
// mode on [B][T][S+1][2] label rows (class 0 the blank, class 1 the next
// symbol) beside the [B][T][S+1][D] duration logits. In the pruned loss
// an arc whose destination lies outside its frame's window meets -inf
// rows there and carries no path. CompositeImplicitAutograd: autograd
// comes from the parts.
#include <torch/library.h>

#include <limits>
#include <vector>

#include "common/checked_values.h"
#include "common/checks.h"
#include "duration_lattice.h"
#include "losses/logprobs.h"
#include "losses/loss_tail.h"
#include "tdt_ops.h"
#include "tdt_terms.h"

namespace rnnt {
namespace {

using c10::SymInt;

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr int64_t kBlankRow = 0, kSymbolRow = 1;  // the label rows' classes

// The lattice's label rows [B][T][S+1][2] from the regular RNN-T px
// [B][S][T+1] and py [B][S+1][T]: (blank, next symbol) per node, the
// symbol -inf at u = S (there is none).
at::Tensor label_rows(const at::Tensor& px, const at::Tensor& py) {
  const SymInt B = py.sym_size(0), T = py.sym_size(2);
  const at::Tensor symbol =
      at::cat({px.narrow_symint(2, 0, T), px.new_full_symint({B, 1, T}, kNegInf)}, 1);
  return at::stack({py, symbol}, 3).transpose(1, 2);
}

// The TDT lattice over those label rows and duration logits z
// [B][T][S+1][D]: log P per item [B]. The lattice's symbols are all
// kSymbolRow, its blank kBlankRow.
struct LabelLattice {
  at::Tensor x, z, symbols;
  std::vector<int64_t> arcs;

  LabelLattice(const at::Tensor& px, const at::Tensor& py, const at::Tensor& duration_logits,
               const at::Tensor& user_symbols, c10::IntArrayRef durations, const char* op)
      : x(label_rows(px, py)),
        z(duration_logits.to(px.scalar_type())),
        symbols(at::full_like(user_symbols, kSymbolRow)),
        arcs(tdt_arcs(durations, kBlankRow, op)) {}

  at::Tensor scores(const c10::optional<at::Tensor>& boundary, double sigma,
                    double fastemit_lambda) const {
    return ops::_duration_lattice::call(x, z, symbols, arcs, boundary, sigma, fastemit_lambda,
                                        true);
  }

  // The scores and the occupations (px_grad [B][S][T+1], py_grad
  // [B][S+1][T]) of the symbol and blank arcs leaving each node, all
  // durations summed: the gradient of sum(log P) w.r.t. the label rows.
  std::tuple<at::Tensor, at::Tensor, at::Tensor> scores_with_occupations(
      const c10::optional<at::Tensor>& boundary, double sigma) const {
    const auto [scores, grad_x, grad_z] =
        ops::_duration_lattice_with_grad::call(x, z, symbols, arcs, boundary, sigma, true);
    const SymInt B = x.sym_size(0), S = x.sym_size(2) - 1;
    const at::Tensor px_grad =  // grad_x [B][T][S+1][2]
        at::cat({grad_x.select(3, kSymbolRow).narrow_symint(2, 0, S).transpose(1, 2),
                 grad_x.new_zeros_symint({B, S, 1})},
                2);
    return {scores, px_grad, grad_x.select(3, kBlankRow).transpose(1, 2)};
  }
};

// The user's symbols for the label joiner's (px, py): symbols of the
// items (u < U_b) checked to differ from the blank (with value checks on;
// their range is checked there), padding past U_b read as the blank, as
// in rnnt_loss_tdt, whose lattice never reads it.
at::Tensor tdt_symbols(const at::Tensor& symbols, const c10::optional<at::Tensor>& boundary,
                       int64_t blank, int64_t C, const char* op) {
  TORCH_CHECK(symbols.dim() == 2 && symbols.scalar_type() == at::kLong, op,
              ": symbols must be an int64 [B][S] tensor, got a ", symbols.dim(), "-D ",
              symbols.scalar_type(), " tensor");
  TORCH_CHECK_VALUE(blank >= 0 && blank < C, op, ": termination_symbol must be in [0, C = ", C,
                    "), got ", blank);
  check_boundary_shape(boundary, symbols.sym_size(0), symbols, op);
  const bool checked = check_symbols_not_blank(symbols, boundary, blank, C, op);
  const at::Tensor padded = padding_as_blank(symbols, boundary, blank);
  // Every value now lies in [0, C): the log-prob op that reads them next
  // need not read them again.
  if (checked) CheckedValues::instance().remember(padded, CheckedKind::kIndexRange, 0, C - 1);
  return padded;
}

// Per-item losses (1 - omega) * TDT + omega * RNN-T (the regular RNN-T loss
// of the same px, py: no sigma, no FastEmit) from the TDT lattice's scores,
// FastEmit's reported value.
at::Tensor tdt_losses(const at::Tensor& scores, const at::Tensor& px, const at::Tensor& py,
                      const c10::optional<at::Tensor>& boundary, double omega,
                      double fastemit_lambda) {
  return mix_omega(fastemit_reported(-scores, fastemit_lambda), omega,
                   [&] { return -ops::mutual_information::call(px, py, boundary); });
}

void check_durations_dim(const at::Tensor& t, const char* name, int64_t dim, const char* shape,
                         c10::IntArrayRef durations, const char* op) {
  TORCH_CHECK(t.dim() == dim, op, ": ", name, " must be ", dim, "-D ", shape, ", got ", t.dim(),
              "-D");
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), op, ": ", name,
              " must be floating point, got ", t.scalar_type());
  TORCH_CHECK(last_dim(t) == static_cast<int64_t>(durations.size()), op, ": ", name,
                    " must be ", shape, " with D = len(durations) = ", durations.size(),
                    ", got D = ", last_dim(t));
}

LossWithGrad simple_tdt_loss(const at::Tensor& lm, const at::Tensor& am,
                             const at::Tensor& lm_duration, const at::Tensor& am_duration,
                             const at::Tensor& symbols, int64_t termination_symbol,
                             c10::IntArrayRef durations, const c10::optional<at::Tensor>& boundary,
                             double sigma, double omega, c10::string_view reduction,
                             bool zero_infinity, bool return_grad) {
  const LossCall call("rnnt::rnnt_loss_tdt_simple", symbols, boundary, "regular", 0.0, 0.0,
                      reduction, zero_infinity);
  const char* op = call.op;
  TORCH_CHECK(am.dim() == 3, op, ": am must be 3-D [B][T][C], got ", am.dim(), "-D");
  check_tdt_devices(am, "am", call.symbols, call.boundary, lm, "lm", op);
  const at::Tensor user_symbols =
      tdt_symbols(call.symbols, call.boundary, termination_symbol, last_dim(am), op);
  const auto [px, py] = get_rnnt_logprobs(lm, am, user_symbols, termination_symbol, "regular",
                                          call.boundary);
  check_durations_dim(lm_duration, "lm_duration", 3, "[B][S+1][D]", durations, op);
  check_durations_dim(am_duration, "am_duration", 3, "[B][T][D]", durations, op);
  TORCH_SYM_CHECK(lm_duration.sym_size(0).sym_eq(lm.sym_size(0))
                      .sym_and(lm_duration.sym_size(1).sym_eq(lm.sym_size(1)))
                      .sym_and(am_duration.sym_size(0).sym_eq(am.sym_size(0)))
                      .sym_and(am_duration.sym_size(1).sym_eq(am.sym_size(1))),
                  op, ": lm_duration must be [B][S+1][D] like lm [", lm.sym_size(0), ", ",
                  lm.sym_size(1), ", C] and am_duration [B][T][D] like am [", am.sym_size(0),
                  ", ", am.sym_size(1), ", C], got [", lm_duration.sym_size(0), ", ",
                  lm_duration.sym_size(1), ", D] and [", am_duration.sym_size(0), ", ",
                  am_duration.sym_size(1), ", D]");
  check_same_device(lm_duration, "lm_duration", am, "am", op);
  check_same_device(am_duration, "am_duration", am, "am", op);
  // [B][T][S+1][D] (D is small, unlike the labels' C), summed in the
  // accumulation dtype (float16/bfloat16 sums would round).
  const auto acc = px.scalar_type();
  const at::Tensor duration_logits =
      am_duration.to(acc).unsqueeze(2) + lm_duration.to(acc).unsqueeze(1);
  check_omega(omega, op);
  check_sigma(sigma, op);
  check_durations_count(durations, op);
  const LabelLattice lattice(px, py, duration_logits, call.symbols, durations, op);
  at::Tensor scores, px_grad, py_grad;
  if (return_grad) {
    std::tie(scores, px_grad, py_grad) = lattice.scores_with_occupations(call.boundary, sigma);
  } else {
    scores = lattice.scores(call.boundary, sigma, 0.0);
  }
  const at::Tensor losses = tdt_losses(scores, px, py, call.boundary, omega, 0.0);
  return {reduce(losses, call.tail.reduction, zero_infinity), px_grad, py_grad};
}

at::Tensor rnnt_loss_tdt_simple(const at::Tensor& lm, const at::Tensor& am,
                                const at::Tensor& lm_duration, const at::Tensor& am_duration,
                                const at::Tensor& symbols, int64_t termination_symbol,
                                c10::IntArrayRef durations,
                                const c10::optional<at::Tensor>& boundary, double sigma,
                                double omega, c10::string_view reduction, bool zero_infinity) {
  return std::get<0>(simple_tdt_loss(lm, am, lm_duration, am_duration, symbols,
                                     termination_symbol, durations, boundary, sigma, omega,
                                     reduction, zero_infinity, false));
}

LossWithGrad rnnt_loss_tdt_simple_with_grad(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& lm_duration,
    const at::Tensor& am_duration, const at::Tensor& symbols, int64_t termination_symbol,
    c10::IntArrayRef durations, const c10::optional<at::Tensor>& boundary, double sigma,
    double omega, c10::string_view reduction, bool zero_infinity) {
  return simple_tdt_loss(lm, am, lm_duration, am_duration, symbols, termination_symbol,
                         durations, boundary, sigma, omega, reduction, zero_infinity, true);
}

at::Tensor rnnt_loss_tdt_pruned(const at::Tensor& logits, const at::Tensor& duration_logits,
                                const at::Tensor& symbols, const at::Tensor& ranges,
                                int64_t termination_symbol, c10::IntArrayRef durations,
                                const c10::optional<at::Tensor>& boundary, double sigma,
                                double omega, double fastemit_lambda, c10::string_view reduction,
                                bool zero_infinity, bool inplace_grad) {
  const LossCall call("rnnt::rnnt_loss_tdt_pruned", symbols, boundary, "regular", 0.0,
                      fastemit_lambda, reduction, zero_infinity);
  const char* op = call.op;
  TORCH_CHECK(logits.dim() == 4, op, ": logits must be 4-D [B][T][s_range][C], got ",
              logits.dim(), "-D");
  check_tdt_devices(logits, "logits", call.symbols, call.boundary, duration_logits,
                    "duration_logits", op);
  const at::Tensor user_symbols =
      tdt_symbols(call.symbols, call.boundary, termination_symbol, last_dim(logits), op);
  // Checks logits, symbols, ranges (shape and values) and boundary.
  const auto [px, py] = get_rnnt_logprobs_pruned(logits, user_symbols, ranges, termination_symbol,
                                                 call.boundary, "regular", false, inplace_grad);
  check_durations_dim(duration_logits, "duration_logits", 4, "[B][T][s_range][D]", durations, op);
  TORCH_SYM_CHECK(duration_logits.sym_size(0).sym_eq(logits.sym_size(0))
                      .sym_and(duration_logits.sym_size(1).sym_eq(logits.sym_size(1)))
                      .sym_and(duration_logits.sym_size(2).sym_eq(logits.sym_size(2))),
                  op, ": duration_logits must be [B][T][s_range][D] like logits [",
                  logits.sym_size(0), ", ", logits.sym_size(1), ", ", logits.sym_size(2),
                  ", C], got [", duration_logits.sym_size(0), ", ", duration_logits.sym_size(1),
                  ", ", duration_logits.sym_size(2), ", D]");
  check_same_device(duration_logits, "duration_logits", logits, "logits", op);
  // Into the full lattice [B][T][S+1][D]; nodes outside the windows get 0
  // (their label rows are -inf: no arc leaves them).
  const SymInt B = logits.sym_size(0), T = logits.sym_size(1), R = logits.sym_size(2);
  const SymInt S = call.symbols.sym_size(1);
  const SymInt D = duration_logits.sym_size(3);
  const at::Tensor full_z =
      duration_logits.new_zeros_symint({B, T, S + 1, D})
          .scatter(2, ranges.unsqueeze(3).expand_symint({B, T, R, D}), duration_logits);
  check_omega(omega, op);
  check_sigma(sigma, op);
  check_durations_count(durations, op);
  const LabelLattice lattice(px, py, full_z, call.symbols, durations, op);
  const at::Tensor losses = tdt_losses(lattice.scores(call.boundary, sigma, fastemit_lambda), px,
                                       py, call.boundary, omega, fastemit_lambda);
  return reduce(losses, call.tail.reduction, zero_infinity);
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CompositeImplicitAutograd, m) {
  m.impl(ops::rnnt_loss_tdt_simple::name, &rnnt_loss_tdt_simple);
  m.impl(ops::rnnt_loss_tdt_simple_with_grad::name, &rnnt_loss_tdt_simple_with_grad);
  m.impl(ops::rnnt_loss_tdt_pruned::name, &rnnt_loss_tdt_pruned);
}

}  // namespace rnnt
