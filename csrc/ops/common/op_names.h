// The public op the user called, for error messages. A loss runs
// get_rnnt_logprobs, the recursion and backend ops inside it; their checks
// name the outermost public op on this thread (set by an OpNameScope),
// so that rnnt_loss_simple's errors say rnnt_loss_simple.
#pragma once

namespace rnnt {

inline const char*& outer_op_slot() {
  thread_local const char* name = nullptr;
  return name;
}

// The outermost public op running on this thread, or `own` if none.
inline const char* op_name(const char* own) {
  const char* outer = outer_op_slot();
  return outer ? outer : own;
}

// Names `op` as the public op for the scope, unless an outer one is set.
class OpNameScope {
 public:
  explicit OpNameScope(const char* op) : previous_(outer_op_slot()) {
    if (!previous_) outer_op_slot() = op;
  }
  ~OpNameScope() { outer_op_slot() = previous_; }
  OpNameScope(const OpNameScope&) = delete;
  OpNameScope& operator=(const OpNameScope&) = delete;

 private:
  const char* previous_;
};

}  // namespace rnnt
