// How the rnnt ops are declared. Each family's <family>_ops.h lists its ops
// with RNNT_OP: the schema and the C++ signature of each op side by side,
// the one place to edit when an op's arguments change. Its
// <family>_schema.cpp defines the schemas in a TORCH_LIBRARY_FRAGMENT
// (define_ops); C++ code calls an op through the dispatcher as
// ops::name::call(...), typed by its signature (checked against the schema
// on first use), and the kernels registered for it are checked against the
// schema when the library loads.
#pragma once

#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <utility>

namespace rnnt {

// RNNT_OP(name, "(arguments) -> returns", signature) declares ops::name with
// its full schema string ops::name::schema, its name, and ops::name::call,
// a call through the dispatcher typed by `signature`.
#define RNNT_OP(op_name, schema_tail, ...)                                           \
  struct op_name {                                                                   \
    static constexpr const char* name = #op_name;                                    \
    static constexpr const char* schema = #op_name schema_tail;                      \
    using signature = __VA_ARGS__;                                                   \
    static const c10::TypedOperatorHandle<signature>& handle() {                     \
      static const auto op = c10::Dispatcher::singleton()                            \
                                 .findSchemaOrThrow("rnnt::" #op_name, "")           \
                                 .typed<signature>();                                \
      return op;                                                                     \
    }                                                                                \
    template <typename... Args>                                                      \
    static decltype(auto) call(Args&&... args) {                                     \
      return handle().call(std::forward<Args>(args)...);                             \
    }                                                                                \
  }

// RNNT_SCHEMA(name, "(arguments) -> returns") declares ops::name with its
// schema and name alone: an op that only Python, TorchScript and LibTorch
// callers call, never our C++ code.
#define RNNT_SCHEMA(op_name, schema_tail)                        \
  struct op_name {                                               \
    static constexpr const char* name = #op_name;                \
    static constexpr const char* schema = #op_name schema_tail;  \
  }

// Argument types of the signatures, as the kernels take them.
namespace ops {
using Tensor = at::Tensor;
using TensorArg = const at::Tensor&;
using OptTensorArg = const c10::optional<at::Tensor>&;
}  // namespace ops

// Defines the schemas of the ops Op... (in a TORCH_LIBRARY_FRAGMENT).
template <typename... Op>
void define_ops(torch::Library& m) {
  (m.def(Op::schema), ...);
}

// The public ops run with autocast turned off, so inner matmuls and
// reductions stay in float32 whatever the autocast dtype; float16/bfloat16
// network outputs are accepted as they come and accumulated in float32 by
// the kernels (no float32 copy of the 4-D logits).
inline void run_without_autocast(const c10::OperatorHandle& op, c10::DispatchKeySet,
                                 torch::jit::Stack* stack) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  op.callBoxed(stack);
}

template <typename... Op>
void register_autocast_off(torch::Library& m) {
  (m.impl(Op::name, torch::CppFunction::makeFromBoxedFunction<&run_without_autocast>()), ...);
}

}  // namespace rnnt

// Registers the ops named (rnnt::ops types) to run with autocast off, on
// CPU and CUDA.
#define RNNT_AUTOCAST_OFF(...)                       \
  TORCH_LIBRARY_IMPL(rnnt, AutocastCPU, m) {         \
    using namespace ::rnnt::ops;                     \
    ::rnnt::register_autocast_off<__VA_ARGS__>(m);   \
  }                                                  \
  TORCH_LIBRARY_IMPL(rnnt, AutocastCUDA, m) {        \
    using namespace ::rnnt::ops;                     \
    ::rnnt::register_autocast_off<__VA_ARGS__>(m);   \
  }
