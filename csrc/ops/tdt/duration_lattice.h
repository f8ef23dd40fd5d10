// Input checks and arc lists of the duration-lattice ops (rnnt::_duration_lattice*,
// schema in tdt_schema.cpp, math in duration_lattice_math.h), shared by
// their CPU and CUDA kernels and by the losses that build them.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "duration_lattice_math.h"

namespace rnnt {

// Validated sizes of a duration lattice.
struct DurationLatticeInputs {
  int64_t B, T, S, C, D;  // D = 0 without duration logits
  std::vector<DurationArc> arcs;
  // int64 [B][2], contiguous, on the logits' device: (T_b, U_b) per item.
  at::Tensor lengths;
};

// TDT's arc kinds as the lattice op's flat triples: a blank (label `blank`)
// with every duration >= 1, the next symbol with every duration; checks
// durations (non-empty, >= 0, distinct, one >= 1), naming `op`.
std::vector<int64_t> tdt_arcs(c10::IntArrayRef durations, int64_t blank, const char* op);

// The size of a tensor's last dimension (classes, durations): an int that
// torch.compile specialises on, leaving B, T and S symbolic.
inline int64_t last_dim(const at::Tensor& t) {
  return t.sym_size(-1).guard_int(__FILE__, __LINE__);
}

// arcs: flat (label, duration, duration_index) triples (label -1: the next
// symbol; duration_index -1: no duration logit).
std::vector<DurationArc> parse_duration_arcs(c10::IntArrayRef arcs, int64_t C, int64_t D,
                                             const char* op);

// Checks logits [B][T][S+1][C] (float16/bfloat16/float32/float64),
// duration_logits [B][T][S+1][D] of the same dtype (or none), symbols int64
// [B][S], boundary int64 [B][4] with rows (0, 0, U_b <= S, T_b <= T) (the
// values are read when value checks are on), all on one device.
DurationLatticeInputs check_duration_lattice_inputs(
    const at::Tensor& logits, const c10::optional<at::Tensor>& duration_logits,
    const at::Tensor& symbols, c10::IntArrayRef arcs,
    const c10::optional<at::Tensor>& boundary, const char* op);

// Symbols of the items' lattices (u < U_b) lie in [0, C) and are no
// blank-like arc label (read on the host: on CUDA, a sync).
void check_symbol_values(const at::Tensor& symbols, const DurationLatticeInputs& in,
                         const char* op);

// With value checks on, in eager mode: the symbols of each item (u < U_b,
// U_b from boundary[:, 2] or S) lie in [0, C) and differ from `blank`.
// Returns whether it checked (read the values).
bool check_symbols_not_blank(const at::Tensor& symbols, const c10::optional<at::Tensor>& boundary,
                             int64_t blank, int64_t C, const char* op);

// duration_logits made contiguous, or an undefined tensor (multi-blank).
inline at::Tensor defined_or_empty(const c10::optional<at::Tensor>& t) {
  return t.has_value() && t->defined() ? t->contiguous() : at::Tensor();
}

// What the CPU and CUDA forward kernels start from: the checked inputs
// (symbol values too, when value checks are on), made contiguous, and the
// outputs in the accumulation dtype: scores [B], alpha [B][T][S+1] (-inf)
// and norms [B][T][S+1][2].
struct DurationForward {
  DurationLatticeInputs in;
  at::Tensor logits, symbols, z, scores, alpha, norms;
};
DurationForward prepare_duration_forward(const at::Tensor& logits,
                                         const c10::optional<at::Tensor>& duration_logits,
                                         const at::Tensor& symbols, c10::IntArrayRef arcs,
                                         const c10::optional<at::Tensor>& boundary,
                                         const char* op);

// What the CPU and CUDA backward kernels start from: the checked inputs and
// saved forward outputs (scores [B], alpha [B][T][S+1], norms
// [B][T][S+1][2] in the accumulation dtype), made contiguous, grad_scores
// [B] in that dtype on the logits' device, and the outputs: beta (-inf),
// grad_logits and grad_z (empty without duration logits).
struct DurationBackward {
  DurationLatticeInputs in;
  at::Tensor logits, symbols, z, scores, grad_scores, beta, grad_logits, grad_z;
};
DurationBackward prepare_duration_backward(
    const at::Tensor& grad_scores, const at::Tensor& logits,
    const c10::optional<at::Tensor>& duration_logits, const at::Tensor& symbols,
    c10::IntArrayRef arcs, const c10::optional<at::Tensor>& boundary, const at::Tensor& scores,
    const at::Tensor& alpha, const at::Tensor& norms, const char* op);

}  // namespace rnnt
