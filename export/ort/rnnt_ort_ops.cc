// ONNX Runtime custom-op library for the `rnnt` ONNX domain (op set 1):
//
//   MutualInformation(px, py, boundary?) -> scores
//   MutualInformationWithGrad(px, py, boundary?) -> (scores, px_grad, py_grad)
//
// CPU kernels for float32 and float64, the same serial per-item recursion as
// the PyTorch CPU kernels (rnnt::forward_item / rnnt::backward_item from
// csrc/ops/recursion/recursion_item.h), one batch item per task of ORT's intra-op
// thread pool. Shapes and boundary values are validated and reported as ORT
// errors (ORT_INVALID_ARGUMENT); nothing here throws across the C ABI.
//
// Built by rnnt_ops.export.ort_library_path() against the ORT C/C++ API
// headers with -DORT_API_MANUAL_INIT; load it with
// SessionOptions.register_custom_ops_library(path), which calls
// RegisterCustomOps below.
#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "recursion_item.h"

namespace rnnt_ort {
namespace {

constexpr const char* kDomain = "rnnt";

template <typename T>
struct OnnxType;
template <>
struct OnnxType<float> {
  static constexpr ONNXTensorElementDataType value =
      ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
};
template <>
struct OnnxType<double> {
  static constexpr ONNXTensorElementDataType value =
      ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
};

// A validation failure, turned into an ORT_INVALID_ARGUMENT status.
struct InvalidArgument {
  std::string message;
};

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return out + "]";
}

// a * b, or an InvalidArgument if it overflows int64 (sizes are >= 0).
int64_t checked_mul(int64_t a, int64_t b, const char* op) {
  if (a != 0 && b > INT64_MAX / a) {
    throw InvalidArgument{std::string(op) + ": lattice too large"};
  }
  return a * b;
}

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
    const OrtApi& api = Ort::GetApi();
    try {
      Compute(raw_context);
      return nullptr;
    } catch (const InvalidArgument& e) {
      return api.CreateStatus(ORT_INVALID_ARGUMENT, e.message.c_str());
    } catch (const Ort::Exception& e) {
      return api.CreateStatus(e.GetOrtErrorCode(), e.what());
    } catch (const std::bad_alloc&) {
      return api.CreateStatus(
          ORT_FAIL, (std::string(kOpName) + ": out of memory").c_str());
    } catch (const std::exception& e) {
      return api.CreateStatus(ORT_FAIL,
                              (std::string(kOpName) + ": " + e.what()).c_str());
    } catch (...) {
      return api.CreateStatus(
          ORT_FAIL, (std::string(kOpName) + ": unknown error").c_str());
    }
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

// The op descriptors and the domain live for the whole process: ORT keeps
// pointers to them in every session that registered this library.
MutualInformationOp<float, false> mi_float;
MutualInformationOp<double, false> mi_double;
MutualInformationOp<float, true> mi_grad_float;
MutualInformationOp<double, true> mi_grad_double;

}  // namespace
}  // namespace rnnt_ort

extern "C" {

// Entry point called by ORT's RegisterCustomOpsLibrary / Python's
// SessionOptions.register_custom_ops_library.
__attribute__((visibility("default"))) OrtStatus* ORT_API_CALL
RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  const OrtApi* api = api_base->GetApi(ORT_API_VERSION);
  if (api == nullptr) {
    // An ONNX Runtime older than the headers: report through API version 1.
    const OrtApi* v1 = api_base->GetApi(1);
    return v1 == nullptr
               ? nullptr
               : v1->CreateStatus(
                     ORT_FAIL,
                     ("rnnt custom ops: this ONNX Runtime does not provide "
                      "API version " + std::to_string(ORT_API_VERSION) +
                      " (built against ONNX Runtime 1." +
                      std::to_string(ORT_API_VERSION) + " headers)")
                         .c_str());
  }
  Ort::InitApi(api);

  static std::mutex mutex;
  static OrtCustomOpDomain* domain = nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  if (domain == nullptr) {
    OrtCustomOpDomain* created = nullptr;
    if (OrtStatus* st = api->CreateCustomOpDomain(rnnt_ort::kDomain, &created)) {
      return st;
    }
    const OrtCustomOp* ops[] = {&rnnt_ort::mi_float, &rnnt_ort::mi_double,
                                &rnnt_ort::mi_grad_float,
                                &rnnt_ort::mi_grad_double};
    for (const OrtCustomOp* op : ops) {
      if (OrtStatus* st = api->CustomOpDomain_Add(created, op)) {
        api->ReleaseCustomOpDomain(created);
        return st;
      }
    }
    // Kept for the life of the process (sessions reference it).
    domain = created;
  }
  return api->AddCustomOpDomain(options, domain);
}

}  // extern "C"
