// The only TORCH_LIBRARY block of the project: every op schema of the `rnnt`
// namespace. Kernels are registered per dispatch key in the other files.
#include <torch/library.h>

#include "value_checks.h"

TORCH_LIBRARY(rnnt, m) {
  // The lattice recursion (see rnnt_ops/mutual_information.py for the math).
  // Returns the total log-score per batch item, [B].
  m.def("mutual_information(Tensor px, Tensor py, Tensor? boundary=None) -> Tensor");
  // Same, plus the gradients of the summed scores w.r.t. px and py
  // (occupation probabilities), computed in the same call.
  m.def(
      "mutual_information_with_grad(Tensor px, Tensor py, Tensor? boundary=None)"
      " -> (Tensor, Tensor, Tensor)");
  // Backend kernels behind the two ops above: forward returns (scores, p)
  // with p the [B][S+1][T+1] forward table; backward returns the gradients of
  // sum(scores) w.r.t. (px, py).
  m.def(
      "_mutual_information_forward(Tensor px, Tensor py, Tensor? boundary=None)"
      " -> (Tensor, Tensor)");
  m.def(
      "_mutual_information_backward(Tensor px, Tensor py, Tensor? boundary,"
      " Tensor p) -> (Tensor, Tensor)");
  // Whether the ops check index and boundary values (value_checks.h); returns
  // the previous setting. Process-wide, on by default.
  m.def("set_value_checks(bool enabled) -> bool", [](bool enabled) {
    return rnnt::value_checks_flag().exchange(enabled);
  });
  m.def("value_checks_enabled() -> bool", [] { return rnnt::value_checks_enabled(); });

  // --- Losses (k2 / fast_rnnt 1.2 semantics; see rnnt_ops/rnnt_loss.py). ---
  // lm [B][S+1][C], am [B][T][C], logits [B][T][S+1][C] or [B][T][s_range][C],
  // symbols int64 [B][S]. rnnt_type: 'regular' | 'modified' | 'constrained'.
  m.def(
      "get_rnnt_logprobs(Tensor lm, Tensor am, Tensor symbols, int termination_symbol,"
      " str rnnt_type=\"regular\", Tensor? boundary=None) -> (Tensor, Tensor)");
  m.def(
      "get_rnnt_logprobs_smoothed(Tensor lm, Tensor am, Tensor symbols,"
      " int termination_symbol, float lm_only_scale=0.1, float am_only_scale=0.1,"
      " Tensor? boundary=None, str rnnt_type=\"regular\") -> (Tensor, Tensor)");
  m.def(
      "get_rnnt_logprobs_joint(Tensor logits, Tensor symbols, int termination_symbol,"
      " Tensor? boundary=None, str rnnt_type=\"regular\", bool inplace_grad=False)"
      " -> (Tensor, Tensor)");
  m.def(
      "get_rnnt_logprobs_pruned(Tensor logits, Tensor symbols, Tensor ranges,"
      " int termination_symbol, Tensor? boundary=None, str rnnt_type=\"regular\","
      " bool use_hat_loss=False, bool inplace_grad=False) -> (Tensor, Tensor)");
  // The fused lattice of get_rnnt_logprobs(_smoothed) in eager mode
  // (simple_lattice.h): px/py from lm, am, their row maxima lm_max [B][S+1][1],
  // am_max [B][T][1] and M = exp(lm - lm_max) @ exp(am - am_max)^T
  // [B][S+1][T], with the smoothed loss's weights and offsets; the backward's
  // W = d loss / d M, and the gather terms added into d lm and d am (which
  // also returns the offsets' gradients).
  m.def(
      "_simple_lattice(Tensor lm, Tensor am, Tensor lm_max, Tensor am_max, Tensor M,"
      " Tensor symbols, int termination_symbol, str rnnt_type, Tensor? boundary,"
      " Tensor? symbol_offset=None, Tensor? blank_offset=None, Tensor? frame_offset=None,"
      " float w_am=1., float w_lm=1., float w_norm=1.) -> (Tensor, Tensor)");
  m.def(
      "_simple_lattice_backward(Tensor grad_px, Tensor grad_py, Tensor M, str rnnt_type,"
      " Tensor? boundary, float w_norm=1.) -> Tensor");
  m.def(
      "_simple_lattice_gather_grads_(Tensor(a!) grad_lm, Tensor(b!) grad_am, Tensor grad_px,"
      " Tensor grad_py, Tensor symbols, int termination_symbol, str rnnt_type,"
      " Tensor? boundary, float w_am=1., float w_lm=1.) -> (Tensor, Tensor, Tensor)");
  // The pruned loss's lattice in eager mode (pruned_lattice.h): px/py from
  // the kept log-probs px_kept, py_kept [B][T][R] at label positions ranges
  // [B][T][R] (-inf elsewhere), and its backward (gradients of the kept
  // entries).
  m.def(
      "_pruned_lattice(Tensor px_kept, Tensor py_kept, Tensor ranges, int S, str rnnt_type,"
      " Tensor? boundary) -> (Tensor, Tensor)");
  m.def(
      "_pruned_lattice_backward(Tensor grad_px, Tensor grad_py, Tensor ranges, str rnnt_type,"
      " Tensor? boundary) -> (Tensor, Tensor)");
  // Each loss returns the reduced loss; its _with_grad twin also returns
  // (px_grad, py_grad), the occupation probabilities pruning needs.
#define RNNT_LOSS_DEF(name, args)                                         \
  m.def(name "(" args ") -> Tensor");                                     \
  m.def(name "_with_grad(" args ") -> (Tensor, Tensor, Tensor)")
  RNNT_LOSS_DEF("rnnt_loss_simple",
                "Tensor lm, Tensor am, Tensor symbols, int termination_symbol,"
                " Tensor? boundary=None, str rnnt_type=\"regular\","
                " float delay_penalty=0.0, str reduction=\"mean\", bool zero_infinity=False");
  RNNT_LOSS_DEF("rnnt_loss_smoothed",
                "Tensor lm, Tensor am, Tensor symbols, int termination_symbol,"
                " float lm_only_scale=0.1, float am_only_scale=0.1,"
                " Tensor? boundary=None, str rnnt_type=\"regular\","
                " float delay_penalty=0.0, str reduction=\"mean\", bool zero_infinity=False");
  RNNT_LOSS_DEF("rnnt_loss",
                "Tensor logits, Tensor symbols, int termination_symbol,"
                " Tensor? boundary=None, str rnnt_type=\"regular\","
                " float delay_penalty=0.0, str reduction=\"mean\", bool zero_infinity=False,"
                " bool inplace_grad=False");
  RNNT_LOSS_DEF("rnnt_loss_pruned",
                "Tensor logits, Tensor symbols, Tensor ranges, int termination_symbol,"
                " Tensor? boundary=None, str rnnt_type=\"regular\","
                " float delay_penalty=0.0, str reduction=\"mean\","
                " bool use_hat_loss=False, bool zero_infinity=False, bool inplace_grad=False");
#undef RNNT_LOSS_DEF
  // Pruning: ranges [B][T][s_range] of kept label positions per frame, and
  // am/lm gathered into them, each [B][T][s_range][C].
  m.def(
      "get_rnnt_prune_ranges(Tensor px_grad, Tensor py_grad, Tensor? boundary,"
      " int s_range) -> Tensor");
  m.def("do_rnnt_pruning(Tensor am, Tensor lm, Tensor ranges) -> (Tensor, Tensor)");
  // The fused kernel behind get_rnnt_prune_ranges in eager mode (traced
  // graphs keep the ATen composition): ranges [B][T][s_range] for the final
  // window size s_range, starts growing by less than max_step per frame.
  m.def(
      "_prune_ranges(Tensor px_grad, Tensor py_grad, Tensor? boundary, int s_range,"
      " int max_step) -> Tensor");
  // A copy of an int64 index checked to lie in [0, size) ("name" names it in
  // the error); a backend kernel, so the check survives torch.compile.
  m.def("_checked_index(Tensor index, SymInt size, str name) -> Tensor");
  // Fused joiner log-probs: for logits [..., C] and an int64 symbol index of
  // the leading shape, (logits[sym] - lse, logits[termination] - lse, lse)
  // per row, in float32 for float16/bfloat16 logits (float64 for float64);
  // the backward writes d loss / d logits without a log-softmax copy, into
  // the memory of (contiguous) logits itself when inplace_grad is set.
  m.def(
      "_joiner_logprobs(Tensor logits, Tensor symbol_index, int termination_symbol,"
      " bool inplace_grad=False) -> (Tensor, Tensor, Tensor)");
  m.def(
      "_joiner_logprobs_backward(Tensor grad_symbol, Tensor grad_blank, Tensor logits,"
      " Tensor symbol_index, Tensor log_norm, int termination_symbol) -> Tensor");
  // Same, overwriting logits with its gradient (logits must be contiguous).
  m.def(
      "_joiner_logprobs_backward_(Tensor grad_symbol, Tensor grad_blank, Tensor(a!) logits,"
      " Tensor symbol_index, Tensor log_norm, int termination_symbol) -> ()");
}
