// What the ONNX Runtime kernels of the `rnnt` domain share: element types,
// validation errors and how a kernel's C++ exceptions become ORT statuses
// (nothing may throw across the C ABI), and the op lists each op file adds
// to the domain (RegisterCustomOps in rnnt_ort_ops.cc).
#pragma once

#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <vector>

namespace rnnt_ort {

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

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return out + "]";
}

// a * b, or an InvalidArgument if it overflows int64 (sizes are >= 0).
inline int64_t checked_mul(int64_t a, int64_t b, const char* op) {
  if (a != 0 && b > INT64_MAX / a) {
    throw InvalidArgument{std::string(op) + ": lattice too large"};
  }
  return a * b;
}

// Runs f(), returning its failure as an ORT status (null on success):
// InvalidArgument as ORT_INVALID_ARGUMENT, anything else as ORT_FAIL, each
// message prefixed with the op's name where it lacks one.
template <typename F>
OrtStatusPtr status_of(const char* op, F&& f) noexcept {
  const OrtApi& api = Ort::GetApi();
  try {
    f();
    return nullptr;
  } catch (const InvalidArgument& e) {
    return api.CreateStatus(ORT_INVALID_ARGUMENT, e.message.c_str());
  } catch (const Ort::Exception& e) {
    return api.CreateStatus(e.GetOrtErrorCode(), e.what());
  } catch (const std::bad_alloc&) {
    return api.CreateStatus(ORT_FAIL,
                            (std::string(op) + ": out of memory").c_str());
  } catch (const std::exception& e) {
    return api.CreateStatus(ORT_FAIL,
                            (std::string(op) + ": " + e.what()).c_str());
  } catch (...) {
    return api.CreateStatus(ORT_FAIL,
                            (std::string(op) + ": unknown error").c_str());
  }
}

// The op descriptors of each op file (they live for the whole process: ORT
// keeps pointers to them in every session that registered this library).
std::vector<const OrtCustomOp*> mutual_information_ops();
std::vector<const OrtCustomOp*> duration_lattice_ops();

}  // namespace rnnt_ort
