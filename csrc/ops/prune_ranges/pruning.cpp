// Pruning (k2's pruned RNN-T, arXiv:2206.13236 sec. 3.2): per-frame windows
// of s_range label positions chosen from the simple loss's occupation
// probabilities, and the gathering of encoder/decoder outputs inside them.
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include "common/checked_index.h"
#include "common/checked_values.h"
#include "common/checks.h"
#include "common/eager.h"
#include "common/op_names.h"
#include "common/value_checks.h"
#include "prune_ranges_ops.h"
#include "recursion/recursion_checks.h"

namespace rnnt {
namespace {

using c10::SymInt;

// x[i] = min(x[i:]) along dim 1: the largest non-decreasing lower bound.
at::Tensor monotonic_lower_bound(const at::Tensor& x) {
  return std::get<0>(x.flip({1}).cummin(1)).flip({1});
}

// Makes s_begin [B][T] non-decreasing, start at 0 and grow by less than
// `max_step` per frame. With ramp[t] = t * (max_step - 1), the step bound
// is exactly "ramp - s_begin is non-decreasing", so it is a second
// monotonic lower bound in that transformed space (clamped at 0 so frame 0
// starts at symbol 0).
at::Tensor adjust_pruning_lower_bound(const at::Tensor& s_begin, const SymInt& max_step) {
  const at::Tensor ramp =
      at::arange(c10::Scalar(s_begin.sym_size(1)), s_begin.options()) * c10::Scalar(max_step - 1);
  const at::Tensor lower = monotonic_lower_bound(s_begin);
  return ramp - monotonic_lower_bound(ramp - lower).clamp_min(0);
}

// The smallest window size that leaves every item with a path one inside
// its windows (window_need_of in checked_values.h: per item from its
// s_end and t_end, the batch maximum). A given boundary is read on the
// host (on CUDA, a wait for the device) unless a check of the same,
// unchanged boundary remembered its needs; the read also checks its rows
// lie in the lattice (unless value checks are off). A fake, functional or
// meta boundary (torch.compile) has no values to read: the tensor sizes,
// (S, T), stand in for every row, as when no boundary is given.
SymInt window_need(const c10::optional<at::Tensor>& boundary, const SymInt& S, const SymInt& T,
                   bool regular, const char* op) {
  const bool given = boundary.has_value() && boundary->defined();
  const auto no_values =
      c10::DispatchKeySet({c10::DispatchKey::Python, c10::DispatchKey::Functionalize});
  if (given && !boundary->key_set().has_any(no_values) && !boundary->is_meta() &&
      boundary->has_storage()) {
    // A real tensor: read it past any dispatch mode (whose tracing would not
    // see this host read anyway; the window size is a constant of the graph).
    const c10::impl::ExcludeDispatchKeyGuard no_modes(
        c10::DispatchKeySet({c10::DispatchKey::Python, c10::DispatchKey::PythonTLSSnapshot}));
    const int64_t s = S.expect_int(), t = T.expect_int();
    int64_t max_s_end = 0, max_t_end = 0, need_regular = 1, need_modified = 1;
    auto& memo = CheckedValues::instance();
    const bool known =
        memo.lookup(*boundary, CheckedKind::kBoundaryExtent, max_s_end, max_t_end) &&
        max_s_end <= s && max_t_end <= t &&
        memo.lookup(*boundary, CheckedKind::kWindowNeed, need_regular, need_modified);
    if (!known) {
      RNNT_RECORD_HOST_READ();
      const at::Tensor host = boundary->cpu().contiguous();
      if (value_checks_enabled()) check_boundary_rows(host.data_ptr<int64_t>(), host.size(0), s, t, op);
      remember_boundary_rows(*boundary, host.data_ptr<int64_t>());
      const WindowNeed need = window_need_of_rows(host.data_ptr<int64_t>(), host.size(0));
      need_regular = need.regular;
      need_modified = need.modified;
    }
    return SymInt(regular ? need_regular : need_modified);
  }
  // Every item (0, 0, S, T): window_need_of(S, T) in SymInt arithmetic.
  if (regular) return S.sym_ge(1).guard_bool(__FILE__, __LINE__) ? (S - 1) / T.max(SymInt(1)) + 2 : SymInt(1);
  const bool has_path = S.sym_ge(1).sym_and(S.sym_le(T)).guard_bool(__FILE__, __LINE__);
  return SymInt(has_path ? 2 : 1);
}

// The ATen composition of rnnt::_prune_ranges (prune_ranges_math.h has the
// steps), for traced graphs and ONNX export.
at::Tensor prune_ranges_composite(const at::Tensor& px_grad, const at::Tensor& py_grad,
                                  const c10::optional<at::Tensor>& boundary_in, const SymInt& R,
                                  const SymInt& max_step) {
  const SymInt B = py_grad.sym_size(0), T = py_grad.sym_size(2);
  const SymInt S = py_grad.sym_size(1) - 1;
  const auto long_opts = py_grad.options().dtype(at::kLong);
  const at::Tensor boundary =
      boundary_in.has_value() && boundary_in->defined()
          ? boundary_in->to(py_grad.device())
          : at::stack({at::zeros_symint({B}, long_opts), at::zeros_symint({B}, long_opts),
                       at::full_symint({B}, c10::Scalar(S), long_opts),
                       at::full_symint({B}, c10::Scalar(T), long_opts)},
                      1);

  // Score of the window starting at s0, per frame: the blank occupancy of
  // its rows, sum_{k < R} py_grad[s0 + k], minus the symbol occupancy that
  // enters row s0 from below, px_grad[s0 - 1] (k2's criterion).
  const SymInt windows = S + 2 - R;
  const at::Tensor cum = at::cat({py_grad.new_zeros_symint({B, 1, T}), py_grad.cumsum(1)}, 1);
  const at::Tensor blank_mass = cum.narrow_symint(1, R, windows) - cum.narrow_symint(1, 0, windows);
  const at::Tensor entering = at::cat({px_grad.new_zeros_symint({B, 1, px_grad.sym_size(2)}), px_grad}, 1)
                                  .narrow_symint(1, 0, windows)
                                  .narrow_symint(2, 0, T);
  at::Tensor s_begin = (blank_mass - entering).argmax(1);  // [B][T]

  // From the item's last frame on, the window must end at s_end.
  const at::Tensor frame = at::arange(c10::Scalar(T), long_opts).view({1, -1});
  const at::Tensor before_last = frame < (boundary.select(1, 3) - 1).view({-1, 1});
  const at::Tensor last_begin = (boundary.select(1, 2) - c10::Scalar(R - 1)).clamp_min(0).view({-1, 1});
  s_begin = at::where(before_last, s_begin, last_begin);
  // The clamp changes nothing for a boundary inside the lattice; it makes
  // every range lie in [0, S] whatever the boundary.
  s_begin = adjust_pruning_lower_bound(s_begin, max_step)
                .clamp(c10::Scalar(0), c10::Scalar(S + 1 - R));
  return s_begin.unsqueeze(2) + at::arange(c10::Scalar(R), long_opts);
}

at::Tensor get_rnnt_prune_ranges(const at::Tensor& px_grad, const at::Tensor& py_grad,
                                 const c10::optional<at::Tensor>& boundary_arg,
                                 int64_t s_range) {
  const c10::optional<at::Tensor> boundary_in = int64_index(boundary_arg);
  const char* op = op_name("rnnt::get_rnnt_prune_ranges");
  const OpNameScope scope(op);
  TORCH_CHECK(px_grad.dim() == 3, op, ": px_grad must be 3-D [B][S][T+1] or [B][S][T], got ",
              px_grad.dim(), "-D");
  TORCH_CHECK(py_grad.dim() == 3, op, ": py_grad must be 3-D [B][S+1][T], got ",
              py_grad.dim(), "-D");
  check_float(px_grad, op, "px_grad");
  check_same_device(px_grad, "px_grad", py_grad, "py_grad", op);
  const SymInt B = py_grad.sym_size(0), T = py_grad.sym_size(2);
  const SymInt S = py_grad.sym_size(1) - 1;
  TORCH_SYM_CHECK(px_grad.sym_size(0).sym_eq(B).sym_and(px_grad.sym_size(1).sym_eq(S)), op,
                  ": px_grad [B][S][..] and py_grad [B][S+1][T] disagree: px_grad [",
                  px_grad.sym_size(0), ", ", px_grad.sym_size(1), ", ..], py_grad [", B,
                  ", ", S + 1, ", ", T, "]");
  const bool regular = px_grad.sym_size(2).sym_eq(T + 1).guard_bool(__FILE__, __LINE__);
  TORCH_SYM_CHECK(px_grad.sym_size(2).sym_eq(T).sym_or(px_grad.sym_size(2).sym_eq(T + 1)), op,
                  ": px_grad must be [B][S][T+1] or [B][S][T] with T = ", T, ", got width ",
                  px_grad.sym_size(2));
  check_boundary_shape(boundary_in, B, py_grad, op);
  TORCH_CHECK_VALUE(s_range >= (regular ? 2 : 1), op, ": s_range must be >= ",
                    regular ? "2 for regular RNN-T" : "1 for modified/constrained RNN-T",
                    " (no path survives a narrower window), got ", s_range);

  SymInt R(s_range);
  const SymInt needed = window_need(boundary_in, S, T, regular, op);
  if (needed.sym_gt(R).guard_bool(__FILE__, __LINE__)) {
    // Regular: some item has more symbols per frame than the windows can
    // climb. Modified/constrained (only s_range = 1 gets here): a modified
    // item keeps a path in 1-wide windows (its window start moves by at
    // most one symbol per frame, as its path does), but a constrained
    // symbol arc also scores the blank of the next label position in the
    // same frame, outside a 1-wide window, so a constrained item with
    // symbols would keep none; the gradients look the same for both.
    if (regular) {
      TORCH_WARN_ONCE(op, ": s_range = ", s_range,
                      " is too small for the boundary's regular items (some would keep no "
                      "path); using s_range = ", needed, " (warned once)");
    } else {
      TORCH_WARN_ONCE(op, ": s_range = 1 is raised to ", needed,
                      " for a modified/constrained lattice: a constrained symbol arc also "
                      "scores the blank of the next label position in its frame, which a "
                      "window of 1 leaves out, so constrained items with symbols would keep no "
                      "path (modified items would; the ranges cannot tell the two apart; "
                      "rnnt_ops.k2 and rnnt_ops.fast_rnnt keep 1, as k2 and fast_rnnt do) "
                      "(warned once)");
    }
    R = needed;
  }
  if (R.sym_gt(S).guard_bool(__FILE__, __LINE__)) R = S + 1;  // nothing to prune

  const SymInt max_step = regular ? R : SymInt(2);
  // Eager calls take the fused kernel (one launch); traced ones (fake or
  // functional tensors, a dispatch mode, the TorchScript tracer) keep the
  // ATen composition, which torch.compile fuses and ONNX exports as
  // standard operators. Both choose the same windows (as ATen computes the
  // composition on the CPU: prune_ranges_math.h).
  // (The kernel moves a boundary to the gradients' device itself.)
  const bool eager = is_eager(px_grad) && is_eager(py_grad) && is_eager_boundary(boundary_in);
  const at::Tensor ranges =
      eager ? ops::_prune_ranges::call(px_grad, py_grad, boundary_in, R.expect_int(), max_step.expect_int())
            : prune_ranges_composite(px_grad, py_grad, boundary_in, R, max_step);
  // Every range lies in [0, S] by construction, which the memo of checked
  // values records, so the ops that take these ranges next need not read
  // them back.
  if (const auto s = S.maybe_as_int()) {
    CheckedValues::instance().remember(ranges, CheckedKind::kIndexRange, 0, *s);
  }
  return ranges;
}

std::tuple<at::Tensor, at::Tensor> do_rnnt_pruning(const at::Tensor& am, const at::Tensor& lm,
                                                   const at::Tensor& ranges) {
  const char* op = op_name("rnnt::do_rnnt_pruning");
  const OpNameScope scope(op);
  TORCH_CHECK(am.dim() == 3, op, ": am must be 3-D [B][T][C], got ", am.dim(), "-D");
  TORCH_CHECK(lm.dim() == 3, op, ": lm must be 3-D [B][S+1][C], got ", lm.dim(), "-D");
  TORCH_CHECK(ranges.dim() == 3 && ranges.scalar_type() == at::kLong, op,
              ": ranges must be an int64 [B][T][s_range] tensor, got a ", ranges.dim(), "-D ",
              ranges.scalar_type(), " tensor");
  check_same_device(am, "am", lm, "lm", op);
  check_same_device(am, "am", ranges, "ranges", op);
  const SymInt B = ranges.sym_size(0), T = ranges.sym_size(1), R = ranges.sym_size(2);
  const SymInt S1 = lm.sym_size(1), D = lm.sym_size(2);
  TORCH_SYM_CHECK(am.sym_size(2).sym_eq(D), op,
                  ": am [B][T][C] and lm [B][S+1][C] must have one feature size C (the joiner "
                  "adds them), got am [..., ", am.sym_size(2), "] and lm [..., ", D, "]");
  TORCH_SYM_CHECK(am.sym_size(0).sym_eq(B).sym_and(am.sym_size(1).sym_eq(T)).sym_and(lm.sym_size(0).sym_eq(B)),
                  op, ": ranges [B][T][s_range] = [", B, ", ", T, ", ", R,
                  "] must match am [B][T][C] = [", am.sym_size(0), ", ", am.sym_size(1),
                  ", ..] and lm [B][S+1][C] = [", lm.sym_size(0), ", ..]");
  const at::Tensor kept = call_checked_index(ranges, S1, "ranges");
  const at::Tensor am_pruned = am.unsqueeze(2).expand_symint({B, T, R, am.sym_size(2)});
  // Row index into lm viewed as [B*(S+1)][C]: index_select's gradient is an
  // index_add into lm's size, not into an expanded [B][T][S+1][C].
  const at::Tensor rows = kept + at::arange(c10::Scalar(B), kept.options()).mul(c10::Scalar(S1)).view({-1, 1, 1});
  const at::Tensor lm_pruned =
      lm.reshape_symint({B * S1, D}).index_select(0, rows.flatten()).view_symint({B, T, R, D});
  return {am_pruned, lm_pruned};
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CompositeImplicitAutograd, m) {
  m.impl("get_rnnt_prune_ranges", &get_rnnt_prune_ranges);
  m.impl("do_rnnt_pruning", &do_rnnt_pruning);
}

}  // namespace rnnt
