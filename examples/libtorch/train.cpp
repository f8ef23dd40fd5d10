// A tiny transducer training loop in C++ (LibTorch), on the same rnnt:: ops
// as Python, plain SGD: the pruned RNN-T loss (0.5 * simple + pruned) or
// the token-and-duration (TDT) loss. Optionally it also runs a TorchScript
// model saved by Python (torch::jit::load).
//
//   train LIBRARY [DATA|-] [OUT|-] [STEPS] [--loss pruned|tdt] [--scripted MODEL INPUTS]
//
// LIBRARY: the op library (`python -m rnnt_ops.build` prints its path); it is
//          dlopen'ed, which registers the rnnt:: ops with the dispatcher.
// DATA:    a `torch.save`d dict of tensors from Python: "features" [B][T][F],
//          "symbols" int64 [B][S], "boundary" int64 [B][4] and the initial
//          weights "param/<name>" (names as in the Python model). The dtype of
//          "features" (float32/float64) is the training dtype. "-" (default):
//          seeded random weights and a synthetic batch.
// OUT:     where to `torch::pickle_save` the results (readable with
//          torch.load): "losses" [STEPS][3] (loss, simple, pruned), the first
//          step's gradients "grad/<name>" and the final weights
//          "param/<name>". "-" (default): nothing saved.
// STEPS:   training steps (default 20).
// --loss:  pruned (default): 0.5 * simple + pruned, logged as
//            step N  loss L  simple L  pruned L
//          ("losses" rows (loss, simple, pruned)); tdt: the TDT loss of the
//          full joiner output and a duration head "joiner_duration" (one
//          logit per duration of kDurations), sigma kSigma, omega kOmega,
//          logged as
//            step N  loss L
//          ("losses" rows (loss)). The TDT data file also holds
//          "param/joiner_duration.*".
//
// Then it calls the simple loss with float symbols and the TDT loss with
// durations {0} (no duration >= 1) and prints their c10::Error messages
// ("bad symbols error: ...", "bad durations error: ..."), the same text
// Python shows.
//
// --scripted MODEL INPUTS (may come anywhere after LIBRARY): MODEL is a
//          `torch.jit.save`d module whose forward(features, symbols,
//          boundary) calls torch.ops.rnnt.* and returns a tuple of loss
//          tensors (the module of tests/test_torchscript.py returns
//          (0.5 * simple + pruned, simple, pruned, full)); INPUTS is a
//          `torch.save`d dict with "features" [B][T][F] (float),
//          "symbols" int64 [B][S] and "boundary" int64 [B][4]. The program
//          loads MODEL with torch::jit::load, runs forward, backpropagates
//          the sum of the returned losses and prints
//            scripted losses L0 L1 ...
//            scripted grad-norm G
//          where G is the 2-norm of all parameter gradients and the
//          features' gradient together.
#include <dlfcn.h>

#include <torch/script.h>
#include <torch/torch.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <tuple>

namespace {

constexpr int64_t kBlank = 0;
constexpr int64_t kSRange = 3;
constexpr double kLearningRate = 0.01;
// TDT: NeMo's default durations; sigma and omega as NeMo's TDT options.
const std::vector<int64_t> kDurations = {0, 1, 2, 3, 4};
constexpr double kSigma = 0.05;
constexpr double kOmega = 0.1;

// Typed handles of the ops, looked up by name in the dispatcher. The C++
// signatures follow the schemas in csrc/ops/<family>/<family>_ops.h (Tensor? ->
// std::optional<Tensor>, int -> int64_t, float -> double, str ->
// c10::string_view); typed() checks them against the registered schema.
// C++ passes every argument: schema defaults are for Python/TorchScript.
using LossWithGrad = std::tuple<at::Tensor, at::Tensor, at::Tensor>;
using OptTensor = std::optional<at::Tensor>;

struct RnntOps {
  c10::TypedOperatorHandle<LossWithGrad(
      const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
      const OptTensor&, c10::string_view, double, c10::string_view, bool)>
      simple_with_grad;
  c10::TypedOperatorHandle<at::Tensor(const at::Tensor&, const at::Tensor&,
                                      const OptTensor&, int64_t)>
      prune_ranges;
  c10::TypedOperatorHandle<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                      int64_t, c10::IntArrayRef, const OptTensor&, double, double,
                                      double, c10::string_view, bool)>
      tdt;
  c10::TypedOperatorHandle<std::tuple<at::Tensor, at::Tensor>(
      const at::Tensor&, const at::Tensor&, const at::Tensor&)>
      do_pruning;
  c10::TypedOperatorHandle<at::Tensor(
      const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
      const OptTensor&, c10::string_view, double, c10::string_view, bool, bool, bool,
      double)>
      pruned;

  static c10::OperatorHandle find(const char* name) {
    return c10::Dispatcher::singleton().findSchemaOrThrow(name, "");
  }

  RnntOps()
      : simple_with_grad(find("rnnt::rnnt_loss_simple_with_grad")
                             .typed<LossWithGrad(const at::Tensor&, const at::Tensor&,
                                                 const at::Tensor&, int64_t, const OptTensor&,
                                                 c10::string_view, double, c10::string_view,
                                                 bool)>()),
        prune_ranges(find("rnnt::get_rnnt_prune_ranges")
                         .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                           const OptTensor&, int64_t)>()),
        tdt(find("rnnt::rnnt_loss_tdt")
                .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                  c10::IntArrayRef, const OptTensor&, double, double, double,
                                  c10::string_view, bool)>()),
        do_pruning(find("rnnt::do_rnnt_pruning")
                       .typed<std::tuple<at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&)>()),
        pruned(find("rnnt::rnnt_loss_pruned")
                   .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                     int64_t, const OptTensor&, c10::string_view, double,
                                     c10::string_view, bool, bool, bool, double)>()) {}
};

enum class LossKind { kPruned, kTdt };

// Encoder (linear + tanh) and stateless decoder (embedding of the previous
// symbol) stand-ins, simple-loss projections and a non-linear joiner, with a
// duration head for TDT; the parameter names match the Python model's.
struct TinyTransducerImpl : torch::nn::Module {
  TinyTransducerImpl(int64_t features, int64_t vocab, int64_t dim, LossKind kind)
      : encoder(register_module("encoder", torch::nn::Linear(features, dim))),
        decoder(register_module("decoder", torch::nn::Embedding(vocab, dim))),
        simple_am_proj(register_module("simple_am_proj", torch::nn::Linear(dim, vocab))),
        simple_lm_proj(register_module("simple_lm_proj", torch::nn::Linear(dim, vocab))),
        joiner_encoder_proj(register_module("joiner_encoder_proj", torch::nn::Linear(dim, dim))),
        joiner_decoder_proj(register_module("joiner_decoder_proj", torch::nn::Linear(dim, dim))),
        joiner_output(register_module("joiner_output", torch::nn::Linear(dim, vocab))) {
    if (kind == LossKind::kTdt) {
      const auto num_durations = static_cast<int64_t>(kDurations.size());
      joiner_duration =
          register_module("joiner_duration", torch::nn::Linear(dim, num_durations));
    }
  }

  // The losses to log, the trained one first (reduction "sum"): pruned:
  // (0.5 * simple + pruned, simple, pruned); TDT: (tdt).
  std::vector<at::Tensor> forward(const RnntOps& ops, const at::Tensor& features,
                                  const at::Tensor& symbols, const at::Tensor& boundary) {
    const at::Tensor encoder_out = torch::tanh(encoder(features));  // [B][T][D]
    const at::Tensor history =
        torch::cat({torch::full({symbols.size(0), 1}, kBlank, symbols.options()), symbols}, 1);
    const at::Tensor decoder_out = decoder(history);  // [B][S+1][D]
    if (!joiner_duration.is_empty()) {
      // The full joiner: hidden [B][T][S+1][D] -> labels and durations.
      const at::Tensor hidden = torch::tanh(joiner_encoder_proj(encoder_out).unsqueeze(2) +
                                            joiner_decoder_proj(decoder_out).unsqueeze(1));
      return {ops.tdt.call(joiner_output(hidden), joiner_duration(hidden), symbols, kBlank,
                           kDurations, boundary, kSigma, kOmega, /*fastemit_lambda=*/0.0, "sum",
                           /*zero_infinity=*/false)};
    }

    auto [simple, px_grad, py_grad] = ops.simple_with_grad.call(
        simple_lm_proj(decoder_out), simple_am_proj(encoder_out), symbols, kBlank, boundary,
        "regular", 0.0, "sum", /*zero_infinity=*/false);
    const at::Tensor ranges = ops.prune_ranges.call(px_grad, py_grad, boundary, kSRange);
    auto [am_pruned, lm_pruned] = ops.do_pruning.call(
        joiner_encoder_proj(encoder_out), joiner_decoder_proj(decoder_out), ranges);
    const at::Tensor logits = joiner_output(torch::tanh(am_pruned + lm_pruned));
    const at::Tensor pruned_loss = ops.pruned.call(logits, symbols, ranges, kBlank, boundary,
                                                   "regular", 0.0, "sum",
                                                   /*use_hat_loss=*/false, /*zero_infinity=*/false,
                                                   /*inplace_grad=*/true,
                                                   /*fastemit_lambda=*/0.0);
    return {0.5 * simple + pruned_loss, simple, pruned_loss};
  }

  torch::nn::Linear encoder;
  torch::nn::Embedding decoder;
  torch::nn::Linear simple_am_proj, simple_lm_proj;
  torch::nn::Linear joiner_encoder_proj, joiner_decoder_proj, joiner_output;
  torch::nn::Linear joiner_duration{nullptr};
};
TORCH_MODULE(TinyTransducer);

struct Batch {
  at::Tensor features, symbols, boundary;
};

c10::Dict<c10::IValue, c10::IValue> load_dict(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "cannot open ", path);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  return torch::pickle_load(bytes).toGenericDict();
}

at::Tensor get(const c10::Dict<c10::IValue, c10::IValue>& dict, const std::string& key) {
  const auto it = dict.find(key);
  TORCH_CHECK(it != dict.end(), "the data file has no '", key, "'");
  return it->value().toTensor();
}

// Weights and batch from Python's dict: dims and dtype come from the tensors.
std::pair<TinyTransducer, Batch> from_file(const std::string& path, LossKind kind) {
  const auto dict = load_dict(path);
  const at::Tensor encoder_w = get(dict, "param/encoder.weight");    // [D][F]
  const at::Tensor output_w = get(dict, "param/joiner_output.weight");  // [V][D]
  TinyTransducer model(encoder_w.size(1), output_w.size(0), encoder_w.size(0), kind);
  Batch batch{get(dict, "features"), get(dict, "symbols"), get(dict, "boundary")};
  model->to(batch.features.scalar_type());
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    item.value().copy_(get(dict, "param/" + item.key()));
  }
  return {model, batch};
}

// Seeded weights and a synthetic batch (no Python needed).
std::pair<TinyTransducer, Batch> from_seed(uint64_t seed, LossKind kind) {
  torch::manual_seed(seed);
  const int64_t B = 4, T = 12, S = 4, F = 5, V = 7, D = 16;
  TinyTransducer model(F, V, D, kind);
  Batch batch;
  batch.features = torch::randn({B, T, F});
  batch.symbols = torch::randint(1, V, {B, S}, torch::kLong);
  // Rows (s_begin, t_begin, s_end, t_end): ragged utterances.
  const std::vector<int64_t> rows = {0, 0, S, T,     0, 0, S,     T - 2,
                                     0, 0, S - 1, T, 0, 0, S - 2, T - 3};
  batch.boundary = torch::tensor(rows, torch::kLong).view({B, 4});
  return {model, batch};
}

// Runs a scripted model saved by Python on saved inputs (see the header).
void run_scripted(const std::string& model_path, const std::string& inputs_path) {
  torch::jit::Module model = torch::jit::load(model_path);
  const auto dict = load_dict(inputs_path);
  const at::Tensor features = get(dict, "features").clone().requires_grad_(true);
  const c10::IValue output =
      model.forward({features, get(dict, "symbols"), get(dict, "boundary")});
  std::vector<at::Tensor> losses;
  if (output.isTuple()) {
    for (const auto& item : output.toTupleRef().elements()) losses.push_back(item.toTensor());
  } else {
    losses.push_back(output.toTensor());
  }
  at::Tensor total = losses[0];
  for (size_t i = 1; i < losses.size(); ++i) total = total + losses[i];
  total.backward();

  std::printf("scripted losses");
  for (const auto& loss : losses) std::printf(" %.17g", loss.item<double>());
  std::printf("\n");
  torch::NoGradGuard no_grad;
  at::Tensor sum_sq = features.grad().pow(2).sum();
  for (const auto& param : model.parameters()) {
    if (param.grad().defined()) sum_sq = sum_sq + param.grad().pow(2).sum();
  }
  std::printf("scripted grad-norm %.17g\n", sum_sq.sqrt().item<double>());
}

}  // namespace

int main(int argc, char** argv) {
  // Positional arguments, with "--loss KIND" and "--scripted MODEL INPUTS" taken out.
  std::vector<std::string> args;
  std::string scripted_model, scripted_inputs;
  LossKind kind = LossKind::kPruned;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--loss") {
      const std::string value = i + 1 < argc ? argv[i + 1] : "";
      if (value != "pruned" && value != "tdt") {
        std::cerr << "--loss needs pruned or tdt\n";
        return 2;
      }
      kind = value == "tdt" ? LossKind::kTdt : LossKind::kPruned;
      ++i;
    } else if (std::string(argv[i]) == "--scripted") {
      if (i + 2 >= argc) {
        std::cerr << "--scripted needs MODEL and INPUTS\n";
        return 2;
      }
      scripted_model = argv[i + 1];
      scripted_inputs = argv[i + 2];
      i += 2;
    } else {
      args.emplace_back(argv[i]);
    }
  }
  if (args.empty() || args.size() > 4) {
    std::cerr << "usage: " << argv[0]
              << " LIBRARY [DATA|-] [OUT|-] [STEPS] [--loss pruned|tdt] [--scripted MODEL INPUTS]\n";
    return 2;
  }
  // RTLD_GLOBAL: the library shares the process's libtorch/libc10; loading
  // it runs its static TORCH_LIBRARY registrations.
  if (dlopen(args[0].c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    std::cerr << "cannot load " << args[0] << ": " << dlerror() << "\n";
    return 1;
  }
  const std::string data = args.size() > 1 ? args[1] : "-";
  const std::string out = args.size() > 2 ? args[2] : "-";
  const int steps = args.size() > 3 ? std::stoi(args[3]) : 20;

  try {
    const RnntOps ops;
    auto [model, batch] = data == "-" ? from_seed(0, kind) : from_file(data, kind);
    torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(kLearningRate));

    std::vector<at::Tensor> losses;
    c10::Dict<std::string, at::Tensor> results;
    for (int step = 1; step <= steps; ++step) {
      optimizer.zero_grad();
      const std::vector<at::Tensor> step_losses =
          model->forward(ops, batch.features, batch.symbols, batch.boundary);
      step_losses[0].backward();
      if (step == 1) {
        for (const auto& item : model->named_parameters()) {
          // TDT leaves the simple-loss projections without a gradient.
          if (item.value().grad().defined()) {
            results.insert("grad/" + item.key(), item.value().grad().clone());
          }
        }
      }
      optimizer.step();
      losses.push_back(torch::stack(step_losses).detach());
      std::printf("step %d  loss %.17g", step, step_losses[0].item<double>());
      if (kind == LossKind::kPruned) {
        std::printf("  simple %.17g  pruned %.17g", step_losses[1].item<double>(),
                    step_losses[2].item<double>());
      }
      std::printf("\n");
    }
    if (out != "-") {
      results.insert("losses", torch::stack(losses));
      for (const auto& item : model->named_parameters()) {
        results.insert("param/" + item.key(), item.value().detach().clone());
      }
      const std::vector<char> bytes = torch::pickle_save(results);
      std::ofstream(out, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }

    // A bad input: the ops' checks raise c10::Error with the same message
    // Python shows as RuntimeError.
    torch::NoGradGuard no_grad;
    try {
      ops.simple_with_grad.call(torch::zeros({1, 3, 4}), torch::zeros({1, 5, 4}),
                                torch::ones({1, 2}, torch::kFloat), kBlank, std::nullopt,
                                "regular", 0.0, "sum", false);
      std::printf("bad symbols error: none\n");
    } catch (const c10::Error& e) {
      std::printf("bad symbols error: %s\n", e.what_without_backtrace());
    }
    try {
      ops.tdt.call(torch::zeros({1, 3, 3, 4}), torch::zeros({1, 3, 3, 1}),
                   torch::ones({1, 2}, torch::kLong), kBlank, std::vector<int64_t>{0},
                   std::nullopt, 0.0, 0.0, 0.0, "sum", false);
      std::printf("bad durations error: none\n");
    } catch (const c10::Error& e) {
      std::printf("bad durations error: %s\n", e.what_without_backtrace());
    }
    if (!scripted_model.empty()) {
      c10::AutoGradMode enable_grad(true);
      run_scripted(scripted_model, scripted_inputs);
    }
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return 1;
  }
  std::fflush(stdout);
  return 0;
}
