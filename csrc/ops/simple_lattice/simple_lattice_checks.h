// The fused backend ops of the simple loss's lattice (math in
// simple_lattice_math.h): their checks and prepared inputs, shared by the CPU
// and CUDA kernels.
//
//   _simple_lattice(lm, am, lm_max, am_max, M, symbols, termination_symbol,
//                   rnnt_type, boundary, symbol_offset?, blank_offset?,
//                   frame_offset?, w_am, w_lm, w_norm) -> (px, py)
//   _simple_lattice_backward(grad_px, grad_py, M, rnnt_type, boundary,
//                   w_norm) -> W
//   _simple_lattice_gather_grads_(grad_lm!, grad_am!, grad_px, grad_py,
//                   symbols, termination_symbol, rnnt_type, boundary, w_am,
//                   w_lm) -> (d symbol_offset, d blank_offset, d frame_offset)
#pragma once

#include <ATen/ATen.h>

#include "common/checks.h"
#include "common/op_names.h"
#include "simple_lattice_math.h"

namespace rnnt {

// Lattice sizes and type flags; C and the termination symbol (checked to
// lie in [0, C)) only where the op indexes classes.
inline SimpleLatticeDims simple_lattice_dims(int64_t S, int64_t T, c10::string_view rnnt_type,
                                             const char* op) {
  const RnntType type = parse_rnnt_type(rnnt_type, op);
  return {S, T, 0, 0, type == RnntType::Regular, type == RnntType::Constrained};
}

inline SimpleLatticeDims with_classes(SimpleLatticeDims d, int64_t C, int64_t blank,
                                      const char* op) {
  check_termination_symbol(blank, C, op);
  d.C = C;
  d.blank = blank;
  return d;
}

inline void check_simple_tensor(const at::Tensor& t, const char* name,
                                std::initializer_list<int64_t> shape, const at::Tensor& like,
                                const char* op) {
  TORCH_CHECK(t.sizes() == at::IntArrayRef(shape), op, ": ", name, " must be ",
              at::IntArrayRef(shape), ", got ", shape_str(t));
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), op, ": ", name, " must be ",
              like.scalar_type(), ", got ", t.scalar_type());
  TORCH_CHECK(t.device() == like.device(), op, ": ", name, " must be on ", like.device(),
              ", got ", t.device());
}

// symbols (if given) int64 [B][S] and boundary (if given) int64 [B][4], on
// `like`'s device (the loss ops' checks); returns the boundary, contiguous,
// or an undefined tensor.
inline at::Tensor check_simple_indices(const at::Tensor& symbols,
                                       const c10::optional<at::Tensor>& boundary, int64_t B,
                                       int64_t S, const at::Tensor& like, const char* op) {
  if (symbols.defined()) check_symbols(symbols, B, S, like, op);
  check_boundary_shape(boundary, B, like, op);
  if (!boundary.has_value() || !boundary->defined()) return at::Tensor();
  check_same_device(*boundary, "boundary", like, "the lattice inputs", op);
  return boundary->contiguous();
}

struct SimpleLatticeInputs {
  int64_t B;
  SimpleLatticeDims d;
  at::Tensor lm, am, lm_max, am_max, M, symbols, boundary;  // contiguous
  at::Tensor symbol_offset, blank_offset, frame_offset;     // contiguous or undefined
};

// An optional offset of shape `shape`, like `like`; contiguous or undefined.
inline at::Tensor check_offset(const c10::optional<at::Tensor>& offset, const char* name,
                               std::initializer_list<int64_t> shape, const at::Tensor& like,
                               const char* op) {
  if (!offset.has_value() || !offset->defined()) return at::Tensor();
  check_simple_tensor(*offset, name, shape, like, op);
  return offset->contiguous();
}

// lm [B][S+1][C], am [B][T][C], lm_max [B][S+1][1], am_max [B][T][1],
// M [B][S+1][T]: one float dtype, one device.
// symbol_offset [B][S], blank_offset [B][S+1], frame_offset [B][T]: optional,
// the same dtype and device.
inline SimpleLatticeInputs check_simple_lattice_inputs(
    const at::Tensor& lm, const at::Tensor& am, const at::Tensor& lm_max,
    const at::Tensor& am_max, const at::Tensor& M, const at::Tensor& symbols,
    int64_t termination_symbol, c10::string_view rnnt_type,
    const c10::optional<at::Tensor>& boundary, const c10::optional<at::Tensor>& symbol_offset,
    const c10::optional<at::Tensor>& blank_offset, const c10::optional<at::Tensor>& frame_offset,
    double w_am, double w_lm, double w_norm) {
  const char* op = op_name("rnnt::_simple_lattice");
  TORCH_CHECK(lm.dim() == 3 && am.dim() == 3, op, ": lm and am must be 3-D, got ",
              shape_str(lm), " and ", shape_str(am));
  check_float(lm, op, "lm");
  const int64_t B = lm.size(0), S = lm.size(1) - 1, C = lm.size(2), T = am.size(1);
  TORCH_CHECK(S >= 0, op, ": lm must have S+1 >= 1 rows");
  check_simple_tensor(am, "am", {B, T, C}, lm, op);
  check_simple_tensor(lm_max, "lm_max", {B, S + 1, 1}, lm, op);
  check_simple_tensor(am_max, "am_max", {B, T, 1}, lm, op);
  check_simple_tensor(M, "M", {B, S + 1, T}, lm, op);
  SimpleLatticeDims d =
      with_classes(simple_lattice_dims(S, T, rnnt_type, op), C, termination_symbol, op);
  d.w_am = w_am;
  d.w_lm = w_lm;
  d.w_norm = w_norm;
  at::Tensor bounds = check_simple_indices(symbols, boundary, B, S, lm, op);
  return {B,
          d,
          lm.contiguous(),
          am.contiguous(),
          lm_max.contiguous(),
          am_max.contiguous(),
          M.contiguous(),
          symbols.contiguous(),
          bounds,
          check_offset(symbol_offset, "symbol_offset", {B, S}, lm, op),
          check_offset(blank_offset, "blank_offset", {B, S + 1}, lm, op),
          check_offset(frame_offset, "frame_offset", {B, T}, lm, op)};
}

struct SimpleGradInputs {
  int64_t B;
  SimpleLatticeDims d;
  at::Tensor grad_px, grad_py, boundary;  // contiguous
  at::Tensor M;        // _simple_lattice_backward: contiguous [B][S+1][T]
  at::Tensor symbols;  // _simple_lattice_gather_grads_: contiguous [B][S]
};

// grad_px [B][S][T+1] (regular) or [B][S][T], grad_py [B][S+1][T].
inline SimpleGradInputs check_simple_grads(const at::Tensor& grad_px, const at::Tensor& grad_py,
                                           c10::string_view rnnt_type,
                                           const c10::optional<at::Tensor>& boundary,
                                           const at::Tensor& symbols, const char* op) {
  TORCH_CHECK(grad_py.dim() == 3, op, ": grad_py must be 3-D [B][S+1][T], got ",
              shape_str(grad_py));
  check_float(grad_py, op, "grad_py");
  const int64_t B = grad_py.size(0), S = grad_py.size(1) - 1, T = grad_py.size(2);
  TORCH_CHECK(S >= 0, op, ": grad_py must have S+1 >= 1 rows");
  const SimpleLatticeDims d = simple_lattice_dims(S, T, rnnt_type, op);
  check_simple_tensor(grad_px, "grad_px", {B, S, d.px_cols()}, grad_py, op);
  at::Tensor bounds = check_simple_indices(symbols, boundary, B, S, grad_py, op);
  return {B, d, grad_px.contiguous(), grad_py.contiguous(), bounds, at::Tensor(), at::Tensor()};
}

// _simple_lattice_backward's inputs: the gradients and M [B][S+1][T].
inline SimpleGradInputs check_simple_backward_inputs(const at::Tensor& grad_px,
                                                     const at::Tensor& grad_py,
                                                     const at::Tensor& M,
                                                     c10::string_view rnnt_type,
                                                     const c10::optional<at::Tensor>& boundary,
                                                     double w_norm) {
  const char* op = op_name("rnnt::_simple_lattice_backward");
  SimpleGradInputs in = check_simple_grads(grad_px, grad_py, rnnt_type, boundary, at::Tensor(), op);
  check_simple_tensor(M, "M", {in.B, in.d.S + 1, in.d.T}, grad_py, op);
  in.M = M.contiguous();
  in.d.w_norm = w_norm;
  return in;
}

// _simple_lattice_gather_grads_'s inputs: grad_lm [B][S+1][C] and grad_am
// [B][T][C] (contiguous: written in place), the gradients, symbols.
inline SimpleGradInputs check_gather_grads_inputs(
    const at::Tensor& grad_lm, const at::Tensor& grad_am, const at::Tensor& grad_px,
    const at::Tensor& grad_py, const at::Tensor& symbols, int64_t termination_symbol,
    c10::string_view rnnt_type, const c10::optional<at::Tensor>& boundary, double w_am,
    double w_lm) {
  const char* op = op_name("rnnt::_simple_lattice_gather_grads_");
  TORCH_CHECK(grad_lm.dim() == 3, op, ": grad_lm must be 3-D [B][S+1][C], got ",
              shape_str(grad_lm));
  const int64_t C = grad_lm.size(2);
  SimpleGradInputs in = check_simple_grads(grad_px, grad_py, rnnt_type, boundary, symbols, op);
  in.d = with_classes(in.d, C, termination_symbol, op);
  in.d.w_am = w_am;
  in.d.w_lm = w_lm;
  check_simple_tensor(grad_lm, "grad_lm", {in.B, in.d.S + 1, C}, grad_py, op);
  check_simple_tensor(grad_am, "grad_am", {in.B, in.d.T, C}, grad_py, op);
  TORCH_CHECK(grad_lm.is_contiguous() && grad_am.is_contiguous(), op,
              ": grad_lm and grad_am must be contiguous");
  in.symbols = symbols.contiguous();
  return in;
}

template <typename scalar_t>
SimpleLatticeBatch<scalar_t> batch_of(const SimpleLatticeInputs& in) {
  return {in.lm.data_ptr<scalar_t>(),     in.am.data_ptr<scalar_t>(),
          in.lm_max.data_ptr<scalar_t>(), in.am_max.data_ptr<scalar_t>(),
          in.M.data_ptr<scalar_t>(),      in.symbols.data_ptr<int64_t>(),
          data_or_null<int64_t>(in.boundary),
          {data_or_null<scalar_t>(in.symbol_offset), data_or_null<scalar_t>(in.blank_offset),
           data_or_null<scalar_t>(in.frame_offset)},
          in.B, in.d};
}

template <typename scalar_t>
SimpleGradBatch<scalar_t> batch_of(const SimpleGradInputs& in) {
  return {in.grad_px.data_ptr<scalar_t>(), in.grad_py.data_ptr<scalar_t>(),
          data_or_null<int64_t>(in.symbols), data_or_null<int64_t>(in.boundary), in.B, in.d};
}

// The gather pass's other outputs: the gradients of the smoothed loss's
// offsets, d symbol_offset [B][S], d blank_offset [B][S+1], d frame_offset
// [B][T] (computed for the simple loss too: a few rows' sums).
struct OffsetGrads {
  at::Tensor symbol, blank, frame;
  OffsetGrads(const SimpleGradInputs& in, const at::TensorOptions& options)
      : symbol(at::empty({in.B, in.d.S}, options)),
        blank(at::empty({in.B, in.d.S + 1}, options)),
        frame(at::empty({in.B, in.d.T}, options)) {}
  std::tuple<at::Tensor, at::Tensor, at::Tensor> as_tuple() const { return {symbol, blank, frame}; }
};

template <typename scalar_t>
SimpleGradBatch<scalar_t> gather_batch_of(const SimpleGradInputs& in, const OffsetGrads& out) {
  SimpleGradBatch<scalar_t> batch = batch_of<scalar_t>(in);
  batch.d_symbol_offset = out.symbol.data_ptr<scalar_t>();
  batch.d_blank_offset = out.blank.data_ptr<scalar_t>();
  batch.d_frame_offset = out.frame.data_ptr<scalar_t>();
  return batch;
}

}  // namespace rnnt
