// Autocast policy of the public ops: they run with autocast turned off, so
// inner matmuls and reductions stay in float32 whatever the autocast dtype.
// float16/bfloat16 network outputs are accepted as they come and accumulated
// in float32 by the kernels (no float32 copy of the 4-D logits).
#include <ATen/autocast_mode.h>
#include <torch/library.h>

namespace rnnt {
namespace {

void run_without_autocast(const c10::OperatorHandle& op, c10::DispatchKeySet,
                          torch::jit::Stack* stack) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  op.callBoxed(stack);
}

void register_autocast_off(torch::Library& m) {
  for (const char* name :
       {"mutual_information", "mutual_information_with_grad", "get_rnnt_logprobs",
        "get_rnnt_logprobs_smoothed", "get_rnnt_logprobs_joint", "get_rnnt_logprobs_pruned",
        "rnnt_loss_simple", "rnnt_loss_simple_with_grad", "rnnt_loss_smoothed",
        "rnnt_loss_smoothed_with_grad", "rnnt_loss", "rnnt_loss_with_grad", "rnnt_loss_pruned",
        "rnnt_loss_pruned_with_grad", "get_rnnt_prune_ranges", "do_rnnt_pruning",
        "rnnt_loss_fused", "rnnt_loss_pruned_fused", "_fused_joiner_logprobs_backward"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&run_without_autocast>());
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(rnnt, AutocastCPU, m) { register_autocast_off(m); }
TORCH_LIBRARY_IMPL(rnnt, AutocastCUDA, m) { register_autocast_off(m); }

}  // namespace rnnt
