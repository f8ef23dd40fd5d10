// ONNX Runtime kernels of the `rnnt` domain's lattice recursion (op set 1):
//
//   MutualInformation(px, py, boundary?) -> scores
//   MutualInformationWithGrad(px, py, boundary?) -> (scores, px_grad, py_grad)
//
// CPU kernels for float32 and float64, the same serial per-item recursion as
// the PyTorch CPU kernels (rnnt::forward_item / rnnt::backward_item from
// csrc/ops/recursion/recursion_item.h), one batch item per task of ORT's intra-op
// thread pool. Shapes and boundary values are validated and reported as ORT
// errors (ORT_INVALID_ARGUMENT).
#include <cstdint>
#include <string>
#include <vector>

#include "ort_common.h"
#include "recursion/recursion_item.h"

namespace rnnt_ort {
namespace {

// Validated sizes of a (px, py, boundary?) triple, as in csrc/ops/recursion/recursion_checks.h.
struct Inputs {
  int64_t B = 0;
  rnnt::LatticeDims dims{0, 0, false};
  std::vector<int64_t> px_shape, py_shape;
  std::vector<rnnt::Box> boxes;
};

Inputs check_inputs(const Ort::ConstValue& px, const Ort::ConstValue& py,
                    const Ort::ConstValue* boundary, const char* op) {
  const std::string name(op);
  Inputs in;
  in.px_shape = px.GetTensorTypeAndShapeInfo().GetShape();
  in.py_shape = py.GetTensorTypeAndShapeInfo().GetShape();
  const auto& xs = in.px_shape;
  const auto& ys = in.py_shape;
  if (xs.size() != 3) {
    throw InvalidArgument{name +
                          ": px must be 3-D, [B][S][T+1] (regular) or "
                          "[B][S][T] (modified), got shape " + shape_str(xs)};
  }
  if (ys.size() != 3) {
    throw InvalidArgument{name + ": py must be 3-D [B][S+1][T], got shape " +
                          shape_str(ys)};
  }
  const int64_t B = xs[0], S = xs[1], T = ys[2];
  if (ys[0] != B || ys[1] != S + 1) {
    throw InvalidArgument{name + ": py must be [B][S+1][T] = [" +
                          std::to_string(B) + ", " + std::to_string(S + 1) +
                          ", T] given px of shape " + shape_str(xs) +
                          ", got " + shape_str(ys)};
  }
  if (xs[2] != T && xs[2] != T + 1) {
    throw InvalidArgument{
        name + ": px must be [B][S][T+1] (regular) or [B][S][T] (modified) "
               "with T = py.shape[2] = " + std::to_string(T) +
        ", got px of shape " + shape_str(xs)};
  }
  in.B = B;
  in.dims = rnnt::LatticeDims{S, T, xs[2] == T};
  // The workspaces are [B][S+1][T+1]: refuse sizes whose product overflows.
  checked_mul(checked_mul(B, S + 1, op), T + 1, op);

  in.boxes.assign(static_cast<size_t>(B), rnnt::Box{0, 0, S, T});
  if (boundary != nullptr) {
    const std::vector<int64_t> bs =
        boundary->GetTensorTypeAndShapeInfo().GetShape();
    if (bs.size() != 2 || bs[0] != B || bs[1] != 4) {
      throw InvalidArgument{name + ": boundary must be [B][4] = [" +
                            std::to_string(B) +
                            ", 4] (s_begin, t_begin, s_end, t_end), got shape " +
                            shape_str(bs)};
    }
    const int64_t* v = boundary->GetTensorData<int64_t>();
    for (int64_t i = 0; i < B; ++i) {
      const rnnt::Box box{v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]};
      if (!rnnt::box_inside(box, S, T)) {
        throw InvalidArgument{
            name + ": boundary[" + std::to_string(i) + "] = (" +
            std::to_string(box.s_begin) + ", " + std::to_string(box.t_begin) + ", " +
            std::to_string(box.s_end) + ", " + std::to_string(box.t_end) +
            ") must satisfy 0 <= s_begin <= s_end <= S = " +
            std::to_string(S) + " and 0 <= t_begin <= t_end <= T = " +
            std::to_string(T)};
      }
      in.boxes[static_cast<size_t>(i)] = box;
    }
  }
  return in;
}

// Everything one batch item's task needs (passed through ParallelFor's
// void* user data).
template <typename T>
struct Job {
  const T* px;
  const T* py;
  T* scores;
  T* px_grad;  // null without gradients
  T* py_grad;
  T* p;        // [B][S+1][T+1] forward tables
  T* occupation;  // [B][S+1][T+1] node occupations (backward workspace), null without gradients
  rnnt::LatticeDims d;
  const rnnt::Box* boxes;

  static void run(void* data, size_t index) {
    const Job& job = *static_cast<const Job*>(data);
    const rnnt::LatticeDims d = job.d;
    const int64_t b = static_cast<int64_t>(index);
    const int64_t x_off = b * d.S * d.px_cols();
    const int64_t y_off = b * (d.S + 1) * d.py_cols();
    const int64_t p_off = b * (d.S + 1) * d.p_cols();
    job.scores[b] = rnnt::forward_item(job.px + x_off, job.py + y_off,
                                       job.p + p_off, d, job.boxes[b]);
    if (job.px_grad != nullptr) {
      rnnt::backward_item(job.px + x_off, job.py + y_off, job.p + p_off,
                          job.occupation + p_off, job.px_grad + x_off,
                          job.py_grad + y_off, d, job.boxes[b]);
    }
  }
};

template <typename T, bool kWithGrad>
struct MutualInformationKernel {
  static constexpr const char* kOpName =
      kWithGrad ? "rnnt.MutualInformationWithGrad" : "rnnt.MutualInformation";

  OrtStatusPtr ComputeV2(OrtKernelContext* raw_context) noexcept {
    return status_of(kOpName, [&] { Compute(raw_context); });
  }

 private:
  void Compute(OrtKernelContext* raw_context) {
    Ort::KernelContext ctx(raw_context);
    const size_t n_inputs = ctx.GetInputCount();
    if (n_inputs < 2) {
      throw InvalidArgument{std::string(kOpName) +
                            ": expects inputs (px, py, boundary?)"};
    }
    const Ort::ConstValue px = ctx.GetInput(0);
    const Ort::ConstValue py = ctx.GetInput(1);
    if (px == nullptr || py == nullptr) {
      throw InvalidArgument{std::string(kOpName) + ": px and py are required"};
    }
    Ort::ConstValue boundary{nullptr};
    if (n_inputs > 2) boundary = ctx.GetInput(2);
    const Inputs in = check_inputs(px, py, boundary == nullptr ? nullptr : &boundary,
                                   kOpName);
    const rnnt::LatticeDims d = in.dims;

    const int64_t B = in.B;
    Ort::UnownedValue scores = ctx.GetOutput(0, std::vector<int64_t>{B});
    const size_t table = static_cast<size_t>(B * (d.S + 1) * d.p_cols());
    std::vector<T> p(table);
    std::vector<T> occupation;

    Job<T> job{};
    job.px = px.GetTensorData<T>();
    job.py = py.GetTensorData<T>();
    job.scores = scores.GetTensorMutableData<T>();
    job.p = p.data();
    job.d = d;
    job.boxes = in.boxes.data();
    if (kWithGrad) {
      Ort::UnownedValue px_grad = ctx.GetOutput(1, in.px_shape);
      Ort::UnownedValue py_grad = ctx.GetOutput(2, in.py_shape);
      occupation.resize(table);
      job.px_grad = px_grad.GetTensorMutableData<T>();
      job.py_grad = py_grad.GetTensorMutableData<T>();
      job.occupation = occupation.data();
    }
    if (B == 0) return;
    if (B == 1) {
      Job<T>::run(&job, 0);
    } else {
      ctx.ParallelFor(&Job<T>::run, static_cast<size_t>(B), 0, &job);
    }
  }
};

template <typename T, bool kWithGrad>
struct MutualInformationOp
    : Ort::CustomOpBase<MutualInformationOp<T, kWithGrad>,
                        MutualInformationKernel<T, kWithGrad>,
                        /*WithStatus=*/true> {
  using Kernel = MutualInformationKernel<T, kWithGrad>;

  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo*,
                              void** kernel) const noexcept {
    *kernel = new (std::nothrow) Kernel();
    if (*kernel == nullptr) {
      return api.CreateStatus(ORT_FAIL, "rnnt: out of memory");
    }
    return nullptr;
  }

  const char* GetName() const {
    return kWithGrad ? "MutualInformationWithGrad" : "MutualInformation";
  }
  const char* GetExecutionProviderType() const {
    return "CPUExecutionProvider";
  }

  size_t GetInputTypeCount() const { return 3; }
  ONNXTensorElementDataType GetInputType(size_t index) const {
    return index == 2 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64
                      : OnnxType<T>::value;
  }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(
      size_t index) const {
    return index == 2 ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED;
  }

  size_t GetOutputTypeCount() const { return kWithGrad ? 3 : 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const {
    return OnnxType<T>::value;
  }
};

MutualInformationOp<float, false> mi_float;
MutualInformationOp<double, false> mi_double;
MutualInformationOp<float, true> mi_grad_float;
MutualInformationOp<double, true> mi_grad_double;

}  // namespace

std::vector<const OrtCustomOp*> mutual_information_ops() {
  return {&mi_float, &mi_double, &mi_grad_float, &mi_grad_double};
}

}  // namespace rnnt_ort
