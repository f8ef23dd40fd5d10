// ONNX Runtime kernel of the duration lattice of the TDT and multi-blank
// transducers (rnnt::_duration_lattice), `rnnt` domain op set 1:
//
//   DurationLattice(logits, duration_logits?, symbols, boundary?, sigma?)
//       -> scores, attribute arcs (ints)
//
// logits T [B][T][S+1][C], duration_logits T [B][T][S+1][D] (TDT; absent
// for multi-blank), symbols int64 [B][S], boundary int64 [B][4] rows
// (0, 0, U_b, T_b), sigma a one-element T (default 0), arcs the flat
// (label, duration, duration_index) triples of the op's arc kinds; scores
// T [B] = log P per item (-inf without a path). Per item, the node
// normalisers (logsumexp of each row of logits and of duration_logits),
// then alpha and log P by rnnt::forward_duration_item, the serial recursion
// of csrc/ops/tdt/duration_lattice_math.h that the PyTorch CPU kernel runs.
// One batch item per task of ORT's intra-op thread pool; every input is
// validated as the PyTorch op validates it (ORT_INVALID_ARGUMENT).
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "joiner/joiner_math.h"
#include "ort_common.h"
#include "tdt/duration_lattice_math.h"

namespace rnnt_ort {
namespace {

constexpr const char* kOpName = "rnnt.DurationLattice";

using rnnt::DurationArc;

std::string err(const std::string& message) { return std::string(kOpName) + ": " + message; }

// The arcs attribute as arc kinds; what can be checked without the tensors.
std::vector<DurationArc> parse_arcs(const std::vector<int64_t>& flat) {
  if (flat.empty() || flat.size() % 3 != 0) {
    throw InvalidArgument{err("arcs must be a non-empty list of (label, duration, "
                              "duration_index) triples, got " +
                              std::to_string(flat.size()) + " integers")};
  }
  if (static_cast<int64_t>(flat.size()) > 3 * rnnt::kMaxDurationArcs) {
    throw InvalidArgument{err("at most " + std::to_string(rnnt::kMaxDurationArcs) +
                              " arc kinds, got " + std::to_string(flat.size() / 3))};
  }
  std::vector<DurationArc> arcs;
  for (size_t i = 0; i < flat.size(); i += 3) {
    const DurationArc arc{flat[i], flat[i + 1], flat[i + 2]};
    if (arc.label < rnnt::kNextSymbol) {
      throw InvalidArgument{err("arc label must be -1 (next symbol) or a class id >= 0, got " +
                                std::to_string(arc.label))};
    }
    if (arc.duration < (rnnt::emits_symbol(arc) ? 0 : 1)) {
      throw InvalidArgument{err("arc duration must be >= 0 (>= 1 for a blank), got " +
                                std::to_string(arc.duration))};
    }
    if (arc.duration_index < -1) {
      throw InvalidArgument{err("arc duration_index must be >= -1, got " +
                                std::to_string(arc.duration_index))};
    }
    arcs.push_back(arc);
  }
  return arcs;
}

// logsumexp of a row of n values: NaN if it holds one, -inf if all are -inf.
template <typename T>
T row_logsumexp(const T* row, int64_t n) {
  T mx = rnnt::neg_inf<T>();
  for (int64_t i = 0; i < n; ++i) mx = rnnt::nan_max(mx, row[i]);
  if (mx == rnnt::neg_inf<T>() || mx != mx) return mx;
  T sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(row[i] - mx);
  return mx + std::log(sum);
}

// Validated sizes, and (T_b, U_b) per item.
struct Sizes {
  int64_t B = 0, T = 0, S = 0, C = 0, D = 0;
  std::vector<int64_t> lengths;  // [B][2]
};

Sizes check_inputs(const Ort::ConstValue& logits, const Ort::ConstValue* z,
                   const Ort::ConstValue& symbols, const Ort::ConstValue* boundary,
                   const std::vector<DurationArc>& arcs) {
  const std::vector<int64_t> xs = logits.GetTensorTypeAndShapeInfo().GetShape();
  if (xs.size() != 4 || xs[2] < 1 || xs[3] < 1) {
    throw InvalidArgument{err("logits must be [B][T][S+1][C] with S+1 >= 1 and C >= 1, got shape " +
                              shape_str(xs))};
  }
  Sizes s;
  s.B = xs[0], s.T = xs[1], s.S = xs[2] - 1, s.C = xs[3];
  if (z != nullptr) {
    const std::vector<int64_t> zs = z->GetTensorTypeAndShapeInfo().GetShape();
    if (zs.size() != 4 || zs[0] != s.B || zs[1] != s.T || zs[2] != s.S + 1 || zs[3] < 1) {
      throw InvalidArgument{err("duration_logits must be [B][T][S+1][D] = [" +
                                std::to_string(s.B) + ", " + std::to_string(s.T) + ", " +
                                std::to_string(s.S + 1) + ", D] given logits of shape " +
                                shape_str(xs) + ", got " + shape_str(zs))};
    }
    s.D = zs[3];
  }
  const std::vector<int64_t> ys = symbols.GetTensorTypeAndShapeInfo().GetShape();
  if (ys.size() != 2 || ys[0] != s.B || ys[1] != s.S) {
    throw InvalidArgument{err("symbols must be [B][S] = [" + std::to_string(s.B) + ", " +
                              std::to_string(s.S) + "], got shape " + shape_str(ys))};
  }
  for (const DurationArc& arc : arcs) {
    if (arc.label >= s.C) {
      throw InvalidArgument{err("arc label must be -1 (next symbol) or in [0, C = " +
                                std::to_string(s.C) + "), got " + std::to_string(arc.label))};
    }
    if (arc.duration_index >= s.D) {
      throw InvalidArgument{err("arc duration_index must be in [-1, D = " + std::to_string(s.D) +
                                "), got " + std::to_string(arc.duration_index))};
    }
  }
  // The workspaces are [B][T][S+1][2]: refuse sizes whose product overflows.
  checked_mul(checked_mul(checked_mul(s.B, s.T, kOpName), s.S + 1, kOpName), 2, kOpName);

  s.lengths.resize(static_cast<size_t>(2 * s.B));
  for (int64_t b = 0; b < s.B; ++b) s.lengths[2 * b] = s.T, s.lengths[2 * b + 1] = s.S;
  if (boundary != nullptr) {
    const std::vector<int64_t> bs = boundary->GetTensorTypeAndShapeInfo().GetShape();
    if (bs.size() != 2 || bs[0] != s.B || bs[1] != 4) {
      throw InvalidArgument{err("boundary must be [B][4] = [" + std::to_string(s.B) +
                                ", 4] (0, 0, U, T'), got shape " + shape_str(bs))};
    }
    const int64_t* v = boundary->GetTensorData<int64_t>();
    for (int64_t b = 0; b < s.B; ++b) {
      const int64_t* r = v + 4 * b;
      if (r[0] != 0 || r[1] != 0 || r[2] < 0 || r[2] > s.S || r[3] < 0 || r[3] > s.T) {
        throw InvalidArgument{err(
            "boundary[" + std::to_string(b) + "] = (" + std::to_string(r[0]) + ", " +
            std::to_string(r[1]) + ", " + std::to_string(r[2]) + ", " + std::to_string(r[3]) +
            ") must be (0, 0, U, T') with 0 <= U <= S = " + std::to_string(s.S) +
            " and 0 <= T' <= T = " + std::to_string(s.T))};
      }
      s.lengths[2 * b] = r[3], s.lengths[2 * b + 1] = r[2];
    }
  }
  const int64_t* y = symbols.GetTensorData<int64_t>();
  for (int64_t b = 0; b < s.B; ++b) {
    for (int64_t u = 0; u < s.lengths[2 * b + 1]; ++u) {
      const int64_t sym = y[b * s.S + u];
      const std::string at = "symbols[" + std::to_string(b) + "][" + std::to_string(u) +
                             "] = " + std::to_string(sym);
      if (sym < 0 || sym >= s.C) {
        throw InvalidArgument{err(at + " must be in [0, C = " + std::to_string(s.C) + ")")};
      }
      for (const DurationArc& arc : arcs) {
        if (arc.label == sym) {
          throw InvalidArgument{err(at + " is a blank (the termination symbol or a big blank)")};
        }
      }
    }
  }
  return s;
}

// Everything one batch item's task needs (ParallelFor's void* user data).
template <typename T>
struct Job {
  const T* x;
  const T* z;  // null without duration logits
  const int64_t* y;
  T sigma;
  const Sizes* s;
  const std::vector<DurationArc>* arcs;
  T* norms;  // [B][T][S+1][2]
  T* alpha;  // [B][T][S+1]
  T* scores;

  static void run(void* data, size_t index) {
    const Job& job = *static_cast<const Job*>(data);
    const Sizes& s = *job.s;
    const int64_t b = static_cast<int64_t>(index), S1 = s.S + 1, cells = s.T * S1;
    const rnnt::DurationItem<T, T> v{
        job.x + b * cells * s.C, job.z ? job.z + b * cells * s.D : nullptr, job.y + b * s.S,
        job.norms + b * cells * 2, job.sigma, S1, s.C, s.D, s.lengths[2 * b],
        s.lengths[2 * b + 1]};
    T* norms = job.norms + b * cells * 2;
    for (int64_t t = 0; t < v.T; ++t) {
      for (int64_t u = 0; u <= v.U; ++u) {
        const int64_t n = v.node(t, u);
        norms[2 * n] = row_logsumexp(v.x + n * s.C, s.C);
        norms[2 * n + 1] = v.z ? row_logsumexp(v.z + n * s.D, s.D) : T(0);
      }
    }
    job.scores[b] = rnnt::forward_duration_item(v, job.arcs->data(),
                                                static_cast<int64_t>(job.arcs->size()),
                                                job.alpha + b * cells);
  }
};

template <typename T>
struct DurationLatticeKernel {
  std::vector<DurationArc> arcs;

  OrtStatusPtr ComputeV2(OrtKernelContext* raw_context) noexcept {
    return status_of(kOpName, [&] { Compute(raw_context); });
  }

 private:
  void Compute(OrtKernelContext* raw_context) {
    Ort::KernelContext ctx(raw_context);
    const size_t n_inputs = ctx.GetInputCount();
    const auto input = [&](size_t i) {
      return i < n_inputs ? ctx.GetInput(i) : Ort::ConstValue{nullptr};
    };
    const Ort::ConstValue logits = input(0), z = input(1), symbols = input(2),
                          boundary = input(3), sigma = input(4);
    if (logits == nullptr || symbols == nullptr) {
      throw InvalidArgument{err("logits and symbols are required")};
    }
    const Sizes s = check_inputs(logits, z == nullptr ? nullptr : &z, symbols,
                                 boundary == nullptr ? nullptr : &boundary, arcs);
    Job<T> job{};
    if (sigma != nullptr) {
      if (sigma.GetTensorTypeAndShapeInfo().GetElementCount() != 1) {
        throw InvalidArgument{err("sigma must hold one value, got shape " +
                                  shape_str(sigma.GetTensorTypeAndShapeInfo().GetShape()))};
      }
      job.sigma = sigma.GetTensorData<T>()[0];
    }
    Ort::UnownedValue scores = ctx.GetOutput(0, std::vector<int64_t>{s.B});
    const size_t cells = static_cast<size_t>(s.B * s.T * (s.S + 1));
    std::vector<T> norms(2 * cells), alpha(cells, rnnt::neg_inf<T>());
    job.x = logits.GetTensorData<T>();
    job.z = z == nullptr ? nullptr : z.GetTensorData<T>();
    job.y = symbols.GetTensorData<int64_t>();
    job.s = &s;
    job.arcs = &arcs;
    job.norms = norms.data();
    job.alpha = alpha.data();
    job.scores = scores.GetTensorMutableData<T>();
    if (s.B == 1) {
      Job<T>::run(&job, 0);
    } else if (s.B > 1) {
      ctx.ParallelFor(&Job<T>::run, static_cast<size_t>(s.B), 0, &job);
    }
  }
};

template <typename T>
struct DurationLatticeOp
    : Ort::CustomOpBase<DurationLatticeOp<T>, DurationLatticeKernel<T>, /*WithStatus=*/true> {
  OrtStatusPtr CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info,
                              void** kernel) const noexcept {
    *kernel = nullptr;
    std::vector<DurationArc> arcs;
    if (OrtStatusPtr st = status_of(kOpName, [&] {
          arcs = parse_arcs(Ort::ConstKernelInfo(info).GetAttributes<int64_t>("arcs"));
        })) {
      return st;
    }
    auto* created = new (std::nothrow) DurationLatticeKernel<T>();
    if (created == nullptr) return api.CreateStatus(ORT_FAIL, "rnnt: out of memory");
    created->arcs = std::move(arcs);
    *kernel = created;
    return nullptr;
  }

  const char* GetName() const { return "DurationLattice"; }
  const char* GetExecutionProviderType() const { return "CPUExecutionProvider"; }

  // logits, duration_logits?, symbols, boundary?, sigma?
  size_t GetInputTypeCount() const { return 5; }
  ONNXTensorElementDataType GetInputType(size_t index) const {
    return index == 2 || index == 3 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 : OnnxType<T>::value;
  }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(size_t index) const {
    return index == 0 || index == 2 ? INPUT_OUTPUT_REQUIRED : INPUT_OUTPUT_OPTIONAL;
  }

  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return OnnxType<T>::value; }
};

DurationLatticeOp<float> lattice_float;
DurationLatticeOp<double> lattice_double;

}  // namespace

std::vector<const OrtCustomOp*> duration_lattice_ops() { return {&lattice_float, &lattice_double}; }

}  // namespace rnnt_ort
