// px/py of the simple and smoothed losses (k2/fast_rnnt definitions), from
// lm [B][S+1][C] and am [B][T][C], as CompositeImplicitAutograd ops: in
// eager mode by rnnt::_simple_lattice_logprobs (one GEMM and a few fused
// kernels, its own autograd: simple_lattice_ops.h), traced (torch.compile,
// export) by ATen compositions whose gradients come from ATen's
// derivatives. symbols [B][S]; px [B][S][T+1] (regular) or [B][S][T],
// py [B][S+1][T].
#include <torch/library.h>

#include "common/checks.h"
#include "common/eager.h"
#include "common/op_names.h"
#include "common/read_ahead.h"
#include "logprobs.h"
#include "simple_lattice/simple_lattice_ops.h"

namespace rnnt {

using c10::SymInt;

namespace {

// Shape, dtype and device checks shared by the simple and smoothed
// constructions (the symbols' values: SymbolsReadAhead).
void check_lm_am(const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
                 int64_t termination_symbol, RnntType type,
                 const c10::optional<at::Tensor>& boundary, const char* op) {
  TORCH_CHECK(lm.dim() == 3, op, ": lm must be 3-D [B][S+1][C], got ", lm.dim(), "-D");
  TORCH_CHECK(am.dim() == 3, op, ": am must be 3-D [B][T][C], got ", am.dim(), "-D");
  check_network_output(lm, op, "lm");
  TORCH_CHECK(am.scalar_type() == lm.scalar_type(), op,
              ": am must have the dtype of lm (", lm.scalar_type(), "), got ",
              am.scalar_type());
  check_same_device(lm, "lm", am, "am", op);
  TORCH_SYM_CHECK(lm.sym_size(0).sym_eq(am.sym_size(0)).sym_and(lm.sym_size(2).sym_eq(am.sym_size(2))),
                  op, ": lm [B][S+1][C] and am [B][T][C] must agree on B and C, got lm [",
                  lm.sym_size(0), ", ", lm.sym_size(1), ", ", lm.sym_size(2), "] and am [",
                  am.sym_size(0), ", ", am.sym_size(1), ", ", am.sym_size(2), "]");
  TORCH_SYM_CHECK(lm.sym_size(1).sym_ge(1), op, ": lm must have S+1 >= 1 rows");
  TORCH_CHECK(symbols.dim() == 2, op, ": symbols must be 2-D [B][S], got ", symbols.dim(), "-D");
  TORCH_SYM_CHECK(lm.sym_size(1).sym_eq(symbols.sym_size(1) + 1), op,
                  ": lm [B][S+1][C] and symbols [B][S] disagree on S: lm [", lm.sym_size(0),
                  ", ", lm.sym_size(1), ", ", lm.sym_size(2), "] has S+1 = ", lm.sym_size(1),
                  " rows, symbols [", symbols.sym_size(0), ", ", symbols.sym_size(1),
                  "] has S = ", symbols.sym_size(1), " symbols");
  const SymInt B = am.sym_size(0), T = am.sym_size(1), C = am.sym_size(2);
  const SymInt S = lm.sym_size(1) - 1;
  check_symbols(symbols, B, S, am, op);
  check_termination_symbol(termination_symbol, C, op);
  check_boundary_shape(boundary, B, am, op);
  check_symbols_fit_frames(type, S, T, boundary, op);
}

// Whether the simple and smoothed constructions take their fused eager path:
// real tensors, no tracer, the boundary (if any) on the inputs' device.
bool eager_lattice_call(const at::Tensor& lm, const at::Tensor& am, const at::Tensor& symbols,
                        const c10::optional<at::Tensor>& boundary) {
  return is_eager(lm) && is_eager(am) && is_eager(symbols) &&
         is_eager_boundary(boundary, am.device());
}

// lm and am less their row maxima, and the exponentials of those. The
// maxima are constants (detached): every value built from these is
// shift-invariant, and with the maxima cancelled exactly no precision is
// lost to huge logits.
struct Shifted {
  at::Tensor lm_max, am_max;  // [B][S+1][1], [B][T][1]
  at::Tensor lm, am;          // lm - lm_max, am - am_max
  at::Tensor lm_exp, am_exp;  // their exponentials
};

Shifted shift(const at::Tensor& lm, const at::Tensor& am) {
  Shifted x;
  x.lm_max = std::get<0>(lm.max(2, true)).detach();
  x.am_max = std::get<0>(am.max(2, true)).detach();
  x.lm = lm - x.lm_max;
  x.am = am - x.am_max;
  x.lm_exp = x.lm.exp();
  x.am_exp = x.am.exp();
  return x;
}

// The simple joiner's terms by ATen, on the shifted logits:
//   px[s][t] = am[t][y_s] + lm[s][y_s] - norm[s][t],
//   py[s][t] = am[t][blank] + lm[s][blank] - norm[s][t],
// norm[s][t] = log sum_c exp(lm[s][c] + am[t][c]), a matmul of the exps.
struct JointTerms {
  at::Tensor px_am, px_lm;  // [B][S][T], [B][S][1]
  at::Tensor py_am, py_lm;  // [B][1][T], [B][S+1][1]
  at::Tensor norm;          // [B][S+1][T]

  at::Tensor px() const { return px_am + px_lm - norm.narrow_symint(1, 0, px_lm.sym_size(1)); }
  at::Tensor py() const { return py_am + py_lm - norm; }
};

JointTerms joint_terms(const Shifted& x, const at::Tensor& symbols, int64_t termination_symbol) {
  const SymInt B = x.am.sym_size(0), T = x.am.sym_size(1), S = x.lm.sym_size(1) - 1;
  JointTerms j;
  // Gather am along C with a [B][T][S] index (never expand am to
  // [B][S][T][C]: its gradient would be that big).
  j.px_am = at::gather(x.am, 2, symbols.unsqueeze(1).expand_symint({B, T, S})).transpose(1, 2);
  j.px_lm = at::gather(x.lm.narrow_symint(1, 0, S), 2, symbols.unsqueeze(-1));
  j.py_am = x.am.select(2, termination_symbol).unsqueeze(1);
  j.py_lm = x.lm.select(2, termination_symbol).unsqueeze(2);
  j.norm = (at::matmul(x.lm_exp, x.am_exp.transpose(1, 2)) + tiny_of(x.am)).log();
  return j;
}

// The smoothed loss's LM-only and AM-only normalisers, less the row maxima
// as the terms above; unigram = the LM's probabilities averaged over batch
// and positions.
struct SmoothingParts {
  at::Tensor lm_sums;      // sum_c exp(lm[s][c]) [B][S+1][1]: LM-only, exp'd
  at::Tensor log_unigram;  // [C]
  at::Tensor amonly;       // log sum_c exp(am[t][c]) unigram[c] [B][T]
};

SmoothingParts smoothing_parts(const Shifted& x) {
  SmoothingParts p;
  p.lm_sums = x.lm_exp.sum(2, true);
  const at::Tensor unigram = (x.lm_exp / p.lm_sums).mean(at::IntArrayRef{0, 1}) + tiny_of(x.am);
  p.log_unigram = unigram.log();
  p.amonly = at::matmul(x.am_exp, unigram).log();
  return p;
}

// The px/py of the public ops below, for symbols that index safely (checked,
// or clamped while their read is pending: read_ahead.h).

std::tuple<at::Tensor, at::Tensor> simple_logprobs(
    const at::Tensor& lm_in, const at::Tensor& am_in, const at::Tensor& symbols,
    int64_t termination_symbol, c10::string_view rnnt_type, RnntType type,
    const c10::optional<at::Tensor>& boundary) {
  const at::Tensor lm = to_accumulation_dtype(lm_in), am = to_accumulation_dtype(am_in);
  if (eager_lattice_call(lm, am, symbols, boundary)) {
    // One GEMM and a few fused kernels (simple_lattice_ops.h); the
    // composition below stays for traced graphs (torch.compile, export).
    return ops::_simple_lattice_logprobs::call(lm, am, symbols, termination_symbol, rnnt_type,
                                               boundary, c10::nullopt, c10::nullopt,
                                               c10::nullopt, 1.0, 1.0, 1.0, c10::nullopt,
                                               c10::nullopt, c10::nullopt, c10::nullopt);
  }
  const JointTerms j = joint_terms(shift(lm, am), symbols, termination_symbol);
  return finish_logprobs(j.px(), j.py(), type, boundary);
}

// The smoothed px/py by the simple lattice op: k2's combined * (lm + am) +
// lm_scale * (LM only) + am_scale * (AM only), regrouped per term
// (simple_lattice_math.h):
//   w_am = combined + am_scale, w_lm = combined + lm_scale, w_norm = combined,
//   symbol_offset[s] = -lm_scale * log lm_sums[s] + am_scale * log_unigram[y_s],
//   blank_offset[s]  = -lm_scale * log lm_sums[s] + am_scale * log_unigram[blank],
//   frame_offset[t]  = -am_scale * amonly[t],
// the offsets less the row maxima, as the lattice's own terms (mix). The
// lattice reuses the maxima and the exponentials; its gradient flows
// through lm and am, the offsets' through ATen's derivatives.
std::tuple<at::Tensor, at::Tensor> smoothed_logprobs_fused(
    const at::Tensor& lm, const at::Tensor& am, const Shifted& x, const SmoothingParts& p,
    const SmoothingScales& w, const at::Tensor& symbols, int64_t termination_symbol,
    const c10::optional<at::Tensor>& boundary, c10::string_view rnnt_type) {
  const int64_t S = lm.size(1) - 1;
  const at::Tensor lm_part = p.lm_sums.squeeze(2).log() * -w.lm;  // [B][S+1]
  const at::Tensor symbol_log_unigram =                           // [B][S]
      p.log_unigram.index_select(0, symbols.flatten()).view_as(symbols);
  const at::Tensor symbol_offset = lm_part.narrow(1, 0, S) + symbol_log_unigram * w.am;
  const at::Tensor blank_offset =
      lm_part + p.log_unigram.select(0, termination_symbol) * w.am;
  return ops::_simple_lattice_logprobs::call(
      lm, am, symbols, termination_symbol, rnnt_type, boundary, symbol_offset, blank_offset,
      p.amonly * -w.am, w.combined + w.am, w.combined + w.lm, w.combined, x.lm_max,
      x.lm_exp.detach(), x.am_max, x.am_exp.detach());
}

std::tuple<at::Tensor, at::Tensor> smoothed_logprobs(
    const at::Tensor& lm_in, const at::Tensor& am_in, const at::Tensor& symbols,
    int64_t termination_symbol, double lm_only_scale, double am_only_scale,
    const c10::optional<at::Tensor>& boundary, c10::string_view rnnt_type, RnntType type) {
  const at::Tensor lm = to_accumulation_dtype(lm_in), am = to_accumulation_dtype(am_in);
  const SmoothingScales w = smoothing_scales(lm_only_scale, am_only_scale);
  const Shifted x = shift(lm, am);
  const SmoothingParts p = smoothing_parts(x);
  if (eager_lattice_call(lm, am, symbols, boundary)) {
    return smoothed_logprobs_fused(lm, am, x, p, w, symbols, termination_symbol, boundary,
                                   rnnt_type);
  }
  const SymInt B = am.sym_size(0), C = am.sym_size(2), S = lm.sym_size(1) - 1;
  // The combined (joint) part, exactly as in get_rnnt_logprobs; LM-only: lm
  // normalised by itself; AM-only: am combined with the unigram LM.
  const JointTerms j = joint_terms(x, symbols, termination_symbol);
  const at::Tensor amonly_norm = p.amonly.unsqueeze(1);  // [B][1][T]
  const at::Tensor lmonly_norm = p.lm_sums.log();        // [B][S+1][1]
  const at::Tensor px_unigram =
      at::gather(p.log_unigram.expand_symint({B, S, C}), 2, symbols.unsqueeze(-1));  // [B][S][1]
  const at::Tensor px_amonly = j.px_am + px_unigram - amonly_norm;
  const at::Tensor px_lmonly = j.px_lm - lmonly_norm.narrow_symint(1, 0, S);
  const at::Tensor py_amonly = j.py_am + p.log_unigram.select(0, termination_symbol) - amonly_norm;
  const at::Tensor py_lmonly = j.py_lm - lmonly_norm;

  // Interpolate in log space.
  const at::Tensor px = j.px() * w.combined + px_lmonly * w.lm + px_amonly * w.am;
  const at::Tensor py = j.py() * w.combined + py_lmonly * w.lm + py_amonly * w.am;
  return finish_logprobs(px, py, type, boundary);
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> get_rnnt_logprobs(
    const at::Tensor& lm_in, const at::Tensor& am_in, const at::Tensor& symbols_arg,
    int64_t termination_symbol, c10::string_view rnnt_type,
    const c10::optional<at::Tensor>& boundary_arg) {
  const at::Tensor symbols_in = int64_index(symbols_arg);
  const c10::optional<at::Tensor> boundary = int64_index(boundary_arg);
  const char* op = op_name("rnnt::get_rnnt_logprobs");
  const OpNameScope scope(op);
  const RnntType type = parse_rnnt_type(rnnt_type, op);
  check_lm_am(lm_in, am_in, symbols_in, termination_symbol, type, boundary, op);
  const SymInt S = lm_in.sym_size(1) - 1, T = am_in.sym_size(1);
  return with_symbols_read(symbols_in, boundary, am_in.sym_size(2), S, T, op,
                           [&](const at::Tensor& symbols) {
    return simple_logprobs(lm_in, am_in, symbols, termination_symbol, rnnt_type, type, boundary);
  });
}

std::tuple<at::Tensor, at::Tensor> get_rnnt_logprobs_smoothed(
    const at::Tensor& lm_in, const at::Tensor& am_in, const at::Tensor& symbols_arg,
    int64_t termination_symbol, double lm_only_scale, double am_only_scale,
    const c10::optional<at::Tensor>& boundary_arg, c10::string_view rnnt_type) {
  const at::Tensor symbols_in = int64_index(symbols_arg);
  const c10::optional<at::Tensor> boundary = int64_index(boundary_arg);
  const char* op = op_name("rnnt::get_rnnt_logprobs_smoothed");
  const OpNameScope scope(op);
  const RnntType type = parse_rnnt_type(rnnt_type, op);
  check_lm_am(lm_in, am_in, symbols_in, termination_symbol, type, boundary, op);
  const SymInt S = lm_in.sym_size(1) - 1, T = am_in.sym_size(1);
  return with_symbols_read(symbols_in, boundary, am_in.sym_size(2), S, T, op,
                           [&](const at::Tensor& symbols) {
    return smoothed_logprobs(lm_in, am_in, symbols, termination_symbol, lm_only_scale,
                             am_only_scale, boundary, rnnt_type, type);
  });
}

}  // namespace rnnt
