// For autograd Functions whose backward is not itself differentiable (the
// recursion holds its occupation probabilities constant, so a gradient of
// its gradient would silently be wrong). Under create_graph=True the
// gradients they return get, as grad_fn, an autograd node that raises,
// naming the function the user called, if anything differentiates them
// again; its edges lead to the forward's inputs and to the incoming
// gradient, so that every second-order gradient reaches it (torch's
// @once_differentiable connects its error to detached copies instead,
// which a gradient w.r.t. the inputs never visits).
#pragma once

#include <torch/autograd.h>
#include <torch/csrc/autograd/functions/basic_ops.h>
#include <torch/csrc/autograd/functions/utils.h>

#include <memory>
#include <string>
#include <utility>

namespace rnnt {

// Makes an autograd node held the way this torch's Edge holds one
// (std::shared_ptr up to torch 2.12, c10::intrusive_ptr from 2.13).
template <typename NodePtr>
struct NodeFactory {
  template <typename T, typename... Args>
  static NodePtr make(Args&&... args) {
    return std::make_shared<T>(std::forward<Args>(args)...);
  }
};
template <typename Node>
struct NodeFactory<c10::intrusive_ptr<Node>> {
  template <typename T, typename... Args>
  static c10::intrusive_ptr<Node> make(Args&&... args) {
    return c10::make_intrusive<T>(std::forward<Args>(args)...);
  }
};
using NodePtr = decltype(torch::autograd::Edge::function);

struct InputEdges : torch::CustomClassHolder {
  torch::autograd::edge_list edges;
};

// In forward: remembers where the differentiable inputs' gradients flow
// (tensors, undefined ones skipped), and whom to blame.
template <typename... Inputs>
void remember_input_edges(torch::autograd::AutogradContext* ctx, const char* op,
                          const Inputs&... inputs) {
  auto holder = c10::make_intrusive<InputEdges>();
  holder->edges = torch::autograd::collect_next_edges(inputs...);
  ctx->saved_data["input_edges"] = c10::IValue::make_capsule(std::move(holder));
  ctx->saved_data["differentiable_once_op"] = std::string(op);
}

// In backward: `grads` as they are, or, when the backward itself is being
// recorded (create_graph=True), the same values with a grad_fn that raises.
inline torch::autograd::variable_list differentiable_once(
    torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads,
    const at::Tensor& grad_output) {
  if (!at::GradMode::is_enabled()) return grads;
  auto holder = c10::static_intrusive_pointer_cast<InputEdges>(
      ctx->saved_data["input_edges"].toCapsule());
  torch::autograd::edge_list edges = holder->edges;
  if (grad_output.defined() && grad_output.requires_grad()) {
    edges.push_back(torch::autograd::impl::gradient_edge(grad_output));
  }
  const std::string op = ctx->saved_data["differentiable_once_op"].toStringRef();
  const NodePtr error = NodeFactory<NodePtr>::template make<torch::autograd::Error>(
      op + " is differentiable once: its backward holds the lattice occupation "
           "probabilities constant, so a second-order gradient (backward with "
           "create_graph=True, then a gradient of that gradient) would be wrong and "
           "is not supported",
      std::move(edges));
  for (at::Tensor& g : grads) {
    if (!g.defined()) continue;
    g = g.detach();
    torch::autograd::set_history(g, error);
  }
  return grads;
}

}  // namespace rnnt
