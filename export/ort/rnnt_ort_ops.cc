// ONNX Runtime custom-op library for the `rnnt` ONNX domain (op set 1):
//
//   MutualInformation(px, py, boundary?) -> scores
//   MutualInformationWithGrad(px, py, boundary?) -> (scores, px_grad, py_grad)
//       (mutual_information_ort.cc: the lattice recursion)
//   DurationLattice(logits, duration_logits?, symbols, boundary?, sigma?)
//       -> scores, attribute arcs
//       (duration_lattice_ort.cc: the TDT / multi-blank lattice)
//
// CPU kernels for float32 and float64 running the math headers the PyTorch
// CPU kernels run. Invalid inputs come back as ORT errors
// (ORT_INVALID_ARGUMENT); nothing here throws across the C ABI.
//
// Built by rnnt_ops.export.ort_library_path() against the ORT C/C++ API
// headers with -DORT_API_MANUAL_INIT; load it with
// SessionOptions.register_custom_ops_library(path), which calls
// RegisterCustomOps below.
#include <mutex>
#include <string>
#include <vector>

#include "ort_common.h"

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
    std::vector<const OrtCustomOp*> ops = rnnt_ort::mutual_information_ops();
    for (const OrtCustomOp* op : rnnt_ort::duration_lattice_ops()) ops.push_back(op);
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
