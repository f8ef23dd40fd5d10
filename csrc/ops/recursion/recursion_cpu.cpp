// CPU kernels of the lattice recursion: the batch items are shared out
// among the intra-op threads (largest first, dynamically), each running the
// vectorised sweep of recursion_item_simd.h with scratch buffers reused
// within a thread.
#include <ATen/Parallel.h>
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <vector>

#include "recursion_checks.h"
#include "recursion_item_simd.h"

namespace rnnt {
namespace {

// Lattice nodes per extra thread: below this much work per thread, waking
// one costs more than it saves (a node is a few ns in the SIMD sweep).
constexpr int64_t kNodesPerThread = 8192;

// Runs item(b, work) for every batch item b on the intra-op threads, one
// Work (scratch) per thread. Items go largest box first to whichever thread
// is free (longest-processing-time-first), so a ragged batch keeps every
// thread busy to the end instead of leaving one thread the long items.
// Small batches run on the calling thread alone.
template <typename Work, typename Item>
void for_each_item_largest_first(const int64_t* boxes, int64_t B, LatticeDims d,
                                 const Item& item) {
  std::vector<int64_t> area(B);  // lattice nodes of each item's box
  for (int64_t b = 0; b < B; ++b) {
    const Box x = box_of(boxes, b, d);
    area[b] = (x.s_end - x.s_begin + 1) * (x.t_end - x.t_begin + 1);
  }
  std::vector<int64_t> order(B);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return area[a] > area[b]; });
  const int64_t nodes = std::accumulate(area.begin(), area.end(), int64_t{0});
  std::atomic<int64_t> next{0};
  const int64_t workers = std::max<int64_t>(
      1, std::min({B, static_cast<int64_t>(at::get_num_threads()), nodes / kNodesPerThread}));
  at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
    Work work;
    for (int64_t i = next.fetch_add(1); i < B; i = next.fetch_add(1)) item(order[i], work);
  });
}

std::tuple<at::Tensor, at::Tensor> mutual_information_forward_cpu(
    const at::Tensor& px_in, const at::Tensor& py_in,
    const c10::optional<at::Tensor>& boundary) {
  const RecursionInputs in = check_recursion_inputs(
      px_in, py_in, boundary, "rnnt::mutual_information");
  const at::Tensor px = px_in.contiguous(), py = py_in.contiguous();
  const LatticeDims d = in.dims;
  at::Tensor p = at::empty({in.B, d.S + 1, d.p_cols()}, px.options());
  at::Tensor scores = at::empty({in.B}, px.options());
  const int64_t* boxes = in.boxes.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(px.scalar_type(), "mutual_information_forward_cpu", [&] {
    const scalar_t* px_a = px.data_ptr<scalar_t>();
    const scalar_t* py_a = py.data_ptr<scalar_t>();
    scalar_t* p_a = p.data_ptr<scalar_t>();
    scalar_t* scores_a = scores.data_ptr<scalar_t>();
    for_each_item_largest_first<simd::StripWork<scalar_t>>(
        boxes, in.B, d, [&](int64_t b, simd::StripWork<scalar_t>& work) {
          scores_a[b] = simd::forward_item(px_a + b * d.S * d.px_cols(),
                                           py_a + b * (d.S + 1) * d.py_cols(),
                                           p_a + b * (d.S + 1) * d.p_cols(), d,
                                           box_of(boxes, b, d), work);
        });
  });
  return {scores, p};
}

std::tuple<at::Tensor, at::Tensor> mutual_information_backward_cpu(
    const at::Tensor& px_in, const at::Tensor& py_in,
    const c10::optional<at::Tensor>& boundary, const at::Tensor& p_in) {
  const RecursionInputs in = check_recursion_inputs(
      px_in, py_in, boundary, "rnnt::mutual_information_backward", BoundaryValues::kTrust);
  const LatticeDims d = in.dims;
  check_forward_table(p_in, px_in, in);
  const at::Tensor px = px_in.contiguous(), py = py_in.contiguous(),
                   p = p_in.contiguous();
  at::Tensor px_grad = at::empty_like(px);
  at::Tensor py_grad = at::empty_like(py);
  at::Tensor g = at::empty_like(p);  // node occupations (workspace)
  const int64_t* boxes = in.boxes.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(px.scalar_type(), "mutual_information_backward_cpu", [&] {
    const scalar_t* px_a = px.data_ptr<scalar_t>();
    const scalar_t* py_a = py.data_ptr<scalar_t>();
    const scalar_t* p_a = p.data_ptr<scalar_t>();
    scalar_t* g_a = g.data_ptr<scalar_t>();
    scalar_t* px_grad_a = px_grad.data_ptr<scalar_t>();
    scalar_t* py_grad_a = py_grad.data_ptr<scalar_t>();
    for_each_item_largest_first<simd::StripWork<scalar_t>>(
        boxes, in.B, d, [&](int64_t b, simd::StripWork<scalar_t>& work) {
          const int64_t x_off = b * d.S * d.px_cols();
          const int64_t y_off = b * (d.S + 1) * d.py_cols();
          const int64_t p_off = b * (d.S + 1) * d.p_cols();
          simd::backward_item(px_a + x_off, py_a + y_off, p_a + p_off,
                              g_a + p_off, px_grad_a + x_off, py_grad_a + y_off, d,
                              box_of(boxes, b, d), work);
        });
  });
  return {px_grad, py_grad};
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, CPU, m) {
  m.impl("_mutual_information_forward", &mutual_information_forward_cpu);
  m.impl("_mutual_information_backward", &mutual_information_backward_cpu);
}

}  // namespace rnnt
