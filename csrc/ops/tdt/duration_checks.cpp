// Input checks of the duration-lattice ops and their shared forward setup.
#include <ATen/OpMathType.h>

#include <limits>
#include <set>

#include "common/eager.h"
#include "common/op_names.h"
#include "common/value_checks.h"
#include "duration_lattice.h"
#include "recursion/recursion_checks.h"

namespace rnnt {

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

std::vector<DurationArc> parse_duration_arcs(c10::IntArrayRef arcs, int64_t C, int64_t D,
                                             const char* op) {
  TORCH_CHECK_VALUE(!arcs.empty() && arcs.size() % 3 == 0, op,
                    ": arcs must be a non-empty list of (label, duration, duration_index) "
                    "triples, got ", arcs.size(), " integers");
  TORCH_CHECK_VALUE(static_cast<int64_t>(arcs.size()) <= 3 * kMaxDurationArcs, op,
                    ": at most ", kMaxDurationArcs, " arc kinds, got ", arcs.size() / 3);
  std::vector<DurationArc> out;
  for (size_t i = 0; i < arcs.size(); i += 3) {
    const DurationArc arc{arcs[i], arcs[i + 1], arcs[i + 2]};
    TORCH_CHECK_VALUE(arc.label == kNextSymbol || (arc.label >= 0 && arc.label < C), op,
                      ": arc label must be -1 (next symbol) or in [0, C = ", C, "), got ",
                      arc.label);
    TORCH_CHECK_VALUE(arc.duration >= (emits_symbol(arc) ? 0 : 1), op,
                      ": arc duration must be >= 0 (>= 1 for a blank), got ", arc.duration);
    TORCH_CHECK_VALUE(arc.duration_index >= -1 && arc.duration_index < D, op,
                      ": arc duration_index must be in [-1, D = ", D, "), got ",
                      arc.duration_index);
    out.push_back(arc);
  }
  return out;
}

namespace {

// The boundary's (T_b, U_b) per item on the host, checked.
void check_duration_boundary(const at::Tensor& b, int64_t S, int64_t T, const char* op) {
  const at::Tensor host = b.cpu().contiguous();
  const int64_t* v = host.data_ptr<int64_t>();
  for (int64_t i = 0; i < host.size(0); ++i) {
    TORCH_CHECK_VALUE(v[4 * i] == 0 && v[4 * i + 1] == 0 && v[4 * i + 2] >= 0 &&
                          v[4 * i + 2] <= S && v[4 * i + 3] >= 0 && v[4 * i + 3] <= T,
                      op, ": boundary[", i, "] = (", v[4 * i], ", ", v[4 * i + 1], ", ",
                      v[4 * i + 2], ", ", v[4 * i + 3], ") must be (0, 0, U, T') with 0 <= U <= S = ",
                      S, " and 0 <= T' <= T = ", T);
  }
}

}  // namespace

DurationLatticeInputs check_duration_lattice_inputs(
    const at::Tensor& logits, const c10::optional<at::Tensor>& duration_logits,
    const at::Tensor& symbols, c10::IntArrayRef arcs,
    const c10::optional<at::Tensor>& boundary, const char* op) {
  TORCH_CHECK(logits.dim() == 4, op, ": logits must be 4-D [B][T][S+1][C], got shape ",
              shape_str(logits));
  TORCH_CHECK(at::isFloatingType(logits.scalar_type()), op,
              ": logits must be float16, bfloat16, float32 or float64, got ",
              logits.scalar_type());
  const int64_t B = logits.size(0), T = logits.size(1), S = logits.size(2) - 1,
                C = logits.size(3);
  TORCH_CHECK(S >= 0 && C >= 1, op, ": logits must be [B][T][S+1][C] with S+1 >= 1 and C >= 1, got ",
              shape_str(logits));
  int64_t D = 0;
  const bool has_durations = duration_logits.has_value() && duration_logits->defined();
  if (has_durations) {
    const at::Tensor& z = *duration_logits;
    TORCH_CHECK(z.dim() == 4 && z.size(0) == B && z.size(1) == T && z.size(2) == S + 1 &&
                    z.size(3) >= 1,
                op, ": duration_logits must be [B][T][S+1][D] = [", B, ", ", T, ", ", S + 1,
                ", D] given logits of shape ", shape_str(logits), ", got ", shape_str(z));
    TORCH_CHECK(z.scalar_type() == logits.scalar_type(), op,
                ": duration_logits must have the dtype of logits (", logits.scalar_type(),
                "), got ", z.scalar_type());
    TORCH_CHECK(z.device() == logits.device(), op,
                ": duration_logits must be on the device of logits (", logits.device(),
                "), got ", z.device());
    D = z.size(3);
  }
  TORCH_CHECK(symbols.dim() == 2 && symbols.size(0) == B && symbols.size(1) == S, op,
              ": symbols must be [B][S] = [", B, ", ", S, "], got shape ", shape_str(symbols));
  TORCH_CHECK(symbols.scalar_type() == at::kLong, op, ": symbols must be int64, got ",
              symbols.scalar_type());
  TORCH_CHECK(symbols.device() == logits.device(), op,
              ": symbols must be on the device of logits (", logits.device(), "), got ",
              symbols.device());
  std::vector<DurationArc> parsed = parse_duration_arcs(arcs, C, D, op);

  at::Tensor lengths;
  if (boundary.has_value() && boundary->defined()) {
    const at::Tensor& b = *boundary;
    TORCH_CHECK(b.dim() == 2 && b.size(0) == B && b.size(1) == 4, op,
                ": boundary must be [B][4] = [", B, ", 4] (0, 0, U, T'), got shape ",
                shape_str(b));
    TORCH_CHECK(b.scalar_type() == at::kLong, op, ": boundary must be int64, got ",
                b.scalar_type());
    if (value_checks_enabled()) check_duration_boundary(b, S, T, op);
    // Clamped so that an unchecked bad row cannot index outside the tensors.
    lengths = at::stack({b.select(1, 3).clamp(0, T), b.select(1, 2).clamp(0, S)}, 1)
                  .to(logits.device())
                  .contiguous();
  } else {
    lengths = at::empty({B, 2}, logits.options().dtype(at::kLong));
    lengths.select(1, 0).fill_(T);
    lengths.select(1, 1).fill_(S);
  }
  return {B, T, S, C, D, std::move(parsed), lengths};
}

namespace {

// symbols[b][u] for u < U_b (lengths: host int64 [B][2] rows (T_b, U_b))
// lie in [0, C) and are none of `blanks`.
void check_symbol_rows(const at::Tensor& symbols_in, const at::Tensor& lengths_in, int64_t C,
                       const std::vector<int64_t>& blanks, const char* op) {
  const at::Tensor symbols = symbols_in.cpu().contiguous();
  const at::Tensor lengths = lengths_in.cpu().contiguous();
  const int64_t B = symbols.size(0), S = symbols.size(1);
  const int64_t* y = symbols.data_ptr<int64_t>();
  const int64_t* len = lengths.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t u = 0; u < len[2 * b + 1]; ++u) {
      const int64_t s = y[b * S + u];
      TORCH_CHECK_VALUE(s >= 0 && s < C, op, ": symbols[", b, "][", u, "] = ", s,
                        " must be in [0, C = ", C, ")");
      for (const int64_t blank : blanks) {
        TORCH_CHECK_VALUE(blank != s, op, ": symbols[", b, "][", u, "] = ", s,
                          " is a blank (the termination symbol or a big blank)");
      }
    }
  }
}

}  // namespace

// Symbols of the items' lattices lie in [0, C) and are no blank-like label.
void check_symbol_values(const at::Tensor& symbols, const DurationLatticeInputs& in,
                         const char* op) {
  std::vector<int64_t> blanks;
  for (const DurationArc& arc : in.arcs) {
    if (!emits_symbol(arc)) blanks.push_back(arc.label);
  }
  check_symbol_rows(symbols, in.lengths, in.C, blanks, op);
}

bool check_symbols_not_blank(const at::Tensor& symbols, const c10::optional<at::Tensor>& boundary,
                             int64_t blank, int64_t C, const char* op) {
  const bool bounded = boundary.has_value() && boundary->defined();
  if (!value_checks_enabled() || !is_eager(symbols) || symbols.is_meta() ||
      (bounded && (!is_eager(*boundary) || boundary->is_meta()))) {
    return false;
  }
  const int64_t B = symbols.size(0), S = symbols.size(1);
  // One host copy (one sync on CUDA) of the symbols and the items' U_b.
  const at::Tensor u_b = bounded ? boundary->select(1, 2).to(symbols.device()).clamp(0, S)
                                 : at::full({B}, S, symbols.options());
  const at::Tensor host = at::cat({symbols.reshape(-1), u_b}).cpu();
  at::Tensor lengths = at::zeros({B, 2}, at::kLong);
  lengths.select(1, 1).copy_(host.narrow(0, B * S, B));
  check_symbol_rows(host.narrow(0, 0, B * S).view({B, S}), lengths, C, {blank}, op);
  return true;
}

namespace {

// The saved forward outputs: scores [B], alpha [B][T][S+1] and norms
// [B][T][S+1][2] in the accumulation dtype on the logits' device.
void check_duration_lattice_saved(const at::Tensor& scores, const at::Tensor& alpha,
                                  const at::Tensor& norms, const DurationLatticeInputs& in,
                                  const at::Tensor& logits, const char* op) {
  const auto acc = at::toOpMathType(logits.scalar_type());
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == in.B && scores.scalar_type() == acc, op,
              ": scores must be the [B] forward scores, got shape ", shape_str(scores));
  TORCH_CHECK(alpha.dim() == 3 && alpha.size(0) == in.B && alpha.size(1) == in.T &&
                  alpha.size(2) == in.S + 1 && alpha.scalar_type() == acc &&
                  alpha.is_contiguous() && alpha.device() == logits.device(),
              op, ": alpha must be the contiguous [B][T][S+1] forward table, got shape ",
              shape_str(alpha));
  TORCH_CHECK(norms.dim() == 4 && norms.size(0) == in.B && norms.size(1) == in.T &&
                  norms.size(2) == in.S + 1 && norms.size(3) == 2 &&
                  norms.scalar_type() == acc && norms.is_contiguous() &&
                  norms.device() == logits.device(),
              op, ": norms must be the contiguous [B][T][S+1][2] forward normalisers, got shape ",
              shape_str(norms));
}

}  // namespace

DurationForward prepare_duration_forward(const at::Tensor& logits,
                                         const c10::optional<at::Tensor>& duration_logits,
                                         const at::Tensor& symbols, c10::IntArrayRef arcs,
                                         const c10::optional<at::Tensor>& boundary,
                                         const char* op) {
  op = op_name(op);  // the loss the user called, if any (op_names.h)
  DurationForward f;
  f.in = check_duration_lattice_inputs(logits, duration_logits, symbols, arcs, boundary, op);
  f.logits = logits.contiguous();
  f.symbols = symbols.contiguous();
  f.z = defined_or_empty(duration_logits);
  if (value_checks_enabled()) check_symbol_values(f.symbols, f.in, op);
  const auto acc = f.logits.options().dtype(at::toOpMathType(f.logits.scalar_type()));
  const int64_t S1 = f.in.S + 1;
  f.scores = at::empty({f.in.B}, acc);
  f.alpha = at::full({f.in.B, f.in.T, S1}, -std::numeric_limits<double>::infinity(), acc);
  f.norms = at::zeros({f.in.B, f.in.T, S1, 2}, acc);
  return f;
}

DurationBackward prepare_duration_backward(
    const at::Tensor& grad_scores, const at::Tensor& logits,
    const c10::optional<at::Tensor>& duration_logits, const at::Tensor& symbols,
    c10::IntArrayRef arcs, const c10::optional<at::Tensor>& boundary, const at::Tensor& scores,
    const at::Tensor& alpha, const at::Tensor& norms, const char* op) {
  op = op_name(op);
  DurationBackward g;
  g.in = check_duration_lattice_inputs(logits, duration_logits, symbols, arcs, boundary, op);
  check_duration_lattice_saved(scores, alpha, norms, g.in, logits, op);
  TORCH_CHECK(grad_scores.dim() == 1 && grad_scores.size(0) == g.in.B, op,
              ": grad_scores must be [B] = [", g.in.B, "], got shape ", shape_str(grad_scores));
  g.logits = logits.contiguous();
  g.symbols = symbols.contiguous();
  g.z = defined_or_empty(duration_logits);
  g.scores = scores.contiguous();
  g.grad_scores = grad_scores.to(logits.device(), scores.scalar_type()).contiguous();
  g.beta = at::full_like(alpha, -std::numeric_limits<double>::infinity());
  g.grad_logits = at::empty_like(g.logits);
  g.grad_z = g.z.defined() ? at::empty_like(g.z) : at::empty({0}, logits.options());
  return g;
}

}  // namespace rnnt
