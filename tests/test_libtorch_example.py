"""The LibTorch example (examples/libtorch): built with CMake against this
torch, it loads the JIT-built op library and trains a tiny transducer with
0.5 * simple + pruned, or with the TDT loss (--loss tdt), through
c10::Dispatcher handles of the rnnt:: ops. Its per-step losses, first-step
gradients and final weights must match the same training in Python (1e-12
relative in float64, 1e-6 in float32), and bad inputs (float symbols, TDT
durations without one >= 1) must raise c10::Errors with Python's messages.
The seeded runs (no data file) train 20 steps and their loss must fall; with
``--scripted`` the same program loads the TorchScript module of
standin.py (as test_torchscript.py scripts it) with torch::jit::load and its printed losses and
gradient norm must match the module run in Python."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.jit._pickle  # torch::pickle_save output refers to it
from torch import nn

import rnnt_ops
from standin import ScriptableTransducerLoss, StandInTransducer, scriptable_inputs

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "libtorch"
# Mirrors of train.cpp's constants.
BLANK = 0
S_RANGE = 3
LR = 0.01
STEPS = 4
SEEDED_STEPS = 20  # train.cpp's default
FEATURES, VOCAB, DIM = 5, 7, 12
DURATIONS, SIGMA, OMEGA = [0, 1, 2, 3, 4], 0.05, 0.1  # train.cpp's TDT constants


class TinyTransducer(StandInTransducer):
    """The Python twin of train.cpp's model (same parameter names)."""

    def __init__(self):
        super().__init__(FEATURES, VOCAB, DIM, BLANK)

    def forward(self, features, symbols, boundary):
        encoder_out, decoder_out = self.encode(features, symbols)
        simple, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
            self.simple_lm_proj(decoder_out), self.simple_am_proj(encoder_out), symbols, BLANK,
            boundary, reduction="sum", return_grad=True,
        )
        ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary, S_RANGE)
        am_pruned, lm_pruned = rnnt_ops.do_rnnt_pruning(
            self.joiner_encoder_proj(encoder_out), self.joiner_decoder_proj(decoder_out), ranges
        )
        logits = self.joiner(am_pruned, lm_pruned)
        pruned = rnnt_ops.rnnt_loss_pruned(logits, symbols, ranges, BLANK, boundary, reduction="sum")
        return 0.5 * simple + pruned, simple, pruned


class TinyTdtTransducer(StandInTransducer):
    """The Python twin of train.cpp's model with --loss tdt: the full joiner
    with a duration head, the TDT loss (the simple projections stay unused)."""

    def __init__(self):
        super().__init__(FEATURES, VOCAB, DIM, BLANK)
        self.joiner_duration = nn.Linear(DIM, len(DURATIONS))

    def forward(self, features, symbols, boundary):
        encoder_out, decoder_out = self.encode(features, symbols)
        hidden = torch.tanh(self.joiner_encoder_proj(encoder_out).unsqueeze(2)
                            + self.joiner_decoder_proj(decoder_out).unsqueeze(1))
        tdt = rnnt_ops.rnnt_loss_tdt(self.joiner_output(hidden), self.joiner_duration(hidden), symbols, BLANK,
                                     DURATIONS, boundary, sigma=SIGMA, omega=OMEGA, reduction="sum")
        return (tdt,)


MODELS = {"pruned": TinyTransducer, "tdt": TinyTdtTransducer}


def train_in_python(model, features, symbols, boundary):
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    losses, first_grads = [], {}
    for step in range(STEPS):
        optimizer.zero_grad()
        step_losses = model(features, symbols, boundary)
        step_losses[0].backward()
        if step == 0:
            first_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        optimizer.step()
        losses.append(torch.stack(step_losses).detach())
    return torch.stack(losses), first_grads, {n: p.detach() for n, p in model.named_parameters()}


def _cuda_toolkit_args():
    """A CUDA build of torch makes find_package(Torch) look for the CUDA
    toolkit; point it at the one torch's extension builder found (nvcc's).
    A toolkit without nvrtc (a compiler-only install) gets the libnvrtc of
    the nvidia-* wheels a pip-installed CUDA torch depends on."""
    from torch.utils.cpp_extension import CUDA_HOME

    if torch.version.cuda is None or CUDA_HOME is None:
        return []
    args = [f"-DCUDA_TOOLKIT_ROOT_DIR={CUDA_HOME}", f"-DCUDAToolkit_ROOT={CUDA_HOME}"]
    toolkit_libs = [Path(CUDA_HOME) / d for d in ("lib64", "lib")]
    if not any(any(lib.glob("libnvrtc.so*")) for lib in toolkit_libs if lib.is_dir()):
        wheels = Path(torch.__file__).resolve().parent.parent / "nvidia"
        nvrtc = sorted(wheels.glob("*/lib/libnvrtc.so.*"))
        if nvrtc:
            args += [f"-DCUDA_nvrtc_LIBRARY={nvrtc[0]}", f"-DCUDA_NVRTC_LIB={nvrtc[0]}"]
    return args


@pytest.fixture(scope="module")
def train_binary(tmp_path_factory):
    cmake = shutil.which("cmake")
    compiler = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cmake is None or compiler is None:
        pytest.skip("needs cmake and a C++ compiler")
    build = tmp_path_factory.mktemp("libtorch_build")
    configure = [
        cmake, "-S", str(EXAMPLE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
    ]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    configure += _cuda_toolkit_args()
    for command in (configure, [cmake, "--build", str(build), "--parallel", "2"]):
        proc = subprocess.run(command, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(command)} failed:\n{proc.stdout}\n{proc.stderr}"
    return build / "train"


@pytest.mark.parametrize("loss", ["pruned", "tdt"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_libtorch_training_matches_python(train_binary, tmp_path, dtype, loss):
    torch.manual_seed(0)
    model = MODELS[loss]().to(dtype)
    g = torch.Generator().manual_seed(3)
    B, T, S = 3, 11, 4
    features = torch.randn(B, T, FEATURES, generator=g, dtype=dtype)
    symbols = torch.randint(1, VOCAB, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, S, T], [0, 0, S - 1, T - 3], [0, 0, 2, T - 5]])
    data = {"features": features, "symbols": symbols, "boundary": boundary}
    data.update({f"param/{n}": p.detach().clone() for n, p in model.named_parameters()})
    torch.save(data, tmp_path / "data.pt")

    proc = subprocess.run(
        [str(train_binary), str(rnnt_ops.library_path()), str(tmp_path / "data.pt"),
         str(tmp_path / "out.pt"), str(STEPS), "--loss", loss],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, f"train failed:\n{proc.stdout}\n{proc.stderr}"
    print(proc.stdout)
    assert proc.stdout.count("step ") == STEPS, proc.stdout
    # torch::pickle_save tags the typed Dict[str, Tensor] with its type.
    with torch.serialization.safe_globals([torch.jit._pickle.restore_type_tag]):
        got = torch.load(tmp_path / "out.pt")

    losses, first_grads, final = train_in_python(model, features, symbols, boundary)
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    torch.testing.assert_close(got["losses"], losses, rtol=tol, atol=tol, msg=lambda m: f"losses: {m}")
    # The first step's printed loss is the saved one, too.
    first_line = proc.stdout.splitlines()[0].split()
    assert abs(float(first_line[3]) - losses[0, 0].item()) <= tol * abs(losses[0, 0].item())
    assert losses[-1, 0] < losses[0, 0], f"training did not lower the loss: {losses[:, 0]}"
    assert {k for k in got if k.startswith("grad/")} == {f"grad/{n}" for n in first_grads}
    for name, grad in first_grads.items():
        torch.testing.assert_close(got[f"grad/{name}"], grad, rtol=tol, atol=tol, msg=lambda m: f"grad {name}: {m}")
    for name, param in final.items():
        torch.testing.assert_close(got[f"param/{name}"], param, rtol=tol, atol=tol, msg=lambda m: f"{name}: {m}")

    # The C++ c10::Error for float symbols carries Python's message.
    with pytest.raises(RuntimeError) as python_error:
        rnnt_ops.rnnt_loss_simple(
            torch.zeros(1, 3, 4), torch.zeros(1, 5, 4), torch.ones(1, 2, dtype=torch.float32), BLANK,
            reduction="sum", return_grad=True,
        )
    message = str(python_error.value).splitlines()[0]
    assert "must be int64" in message
    assert f"bad symbols error: {message}" in proc.stdout.splitlines(), proc.stdout
    # And the TDT loss's for durations without one >= 1.
    with pytest.raises(ValueError) as python_error:
        rnnt_ops.rnnt_loss_tdt(torch.zeros(1, 3, 3, 4), torch.zeros(1, 3, 3, 1), torch.ones(1, 2, dtype=torch.long),
                               BLANK, [0], reduction="sum")
    message = str(python_error.value).splitlines()[0]
    assert "durations must contain a duration >= 1" in message
    assert f"bad durations error: {message}" in proc.stdout.splitlines(), proc.stdout


@pytest.mark.parametrize("loss", ["pruned", "tdt"])
def test_libtorch_seeded_run(train_binary, loss):
    """Without a data file: seeded weights, a synthetic batch, no output
    file, the default 20 SGD steps; the loss must fall."""
    proc = subprocess.run(
        [str(train_binary), str(rnnt_ops.library_path()), "--loss", loss],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, f"train failed:\n{proc.stdout}\n{proc.stderr}"
    print(proc.stdout)
    lines = proc.stdout.splitlines()
    steps = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in steps] == [str(i) for i in range(1, SEEDED_STEPS + 1)], proc.stdout
    losses = [float(line.split()[3]) for line in steps]
    first, last = losses[0], losses[-1]
    # 136 -> 39 for pruned, 44 -> 29 for TDT (its full joiner starts lower).
    fall = {"pruned": 0.5, "tdt": 0.75}[loss]
    assert 0 < last < fall * first, f"the loss did not fall over {SEEDED_STEPS} steps: {losses}"
    assert last == min(losses), f"the last step's loss is not the lowest: {losses}"
    bad = lines[SEEDED_STEPS]
    assert bad.startswith("bad symbols error: ") and "must be int64" in bad, proc.stdout
    bad = lines[SEEDED_STEPS + 1]
    assert bad.startswith("bad durations error: ") and "duration >= 1" in bad, proc.stdout


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_libtorch_runs_scripted_model(train_binary, tmp_path, dtype):
    """torch::jit::load of the TorchScript module standin.ScriptableTransducerLoss
    (saved here with torch.jit.save) in the same program, after its seeded
    training: forward + backward of the sum of the returned losses; the
    printed losses and gradient norm match the module run in Python."""
    torch.manual_seed(0)
    scripted = torch.jit.script(ScriptableTransducerLoss().to(dtype))
    torch.jit.save(scripted, str(tmp_path / "model.pt"))
    inputs = scriptable_inputs(dtype)
    torch.save(inputs, tmp_path / "inputs.pt")

    proc = subprocess.run(
        [str(train_binary), str(rnnt_ops.library_path()),
         "--scripted", str(tmp_path / "model.pt"), str(tmp_path / "inputs.pt")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, f"train failed:\n{proc.stdout}\n{proc.stderr}"
    print(proc.stdout)
    lines = proc.stdout.splitlines()
    assert sum(line.startswith("step ") for line in lines) == SEEDED_STEPS, proc.stdout
    got_losses = [float(x) for x in lines[-2].split()[2:]]
    assert lines[-2].startswith("scripted losses ") and len(got_losses) == 4, proc.stdout
    assert lines[-1].startswith("scripted grad-norm "), proc.stdout
    got_norm = float(lines[-1].split()[2])

    model = torch.jit.load(str(tmp_path / "model.pt"))
    features = inputs["features"].clone().requires_grad_()
    losses = model(features, inputs["symbols"], inputs["boundary"])
    sum(losses).backward()
    grads = [features.grad] + [p.grad for p in model.parameters()]
    norm = torch.stack([g.pow(2).sum() for g in grads]).sum().sqrt()
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    for i, (a, b) in enumerate(zip(got_losses, losses)):
        assert abs(a - b.item()) <= tol * abs(b.item()), f"loss {i}: C++ {a} Python {b.item()}"
    assert abs(got_norm - norm.item()) <= tol * norm.item(), f"grad norm: C++ {got_norm} Python {norm.item()}"


def test_bad_library_path_fails_cleanly(train_binary, tmp_path):
    proc = subprocess.run(
        [str(train_binary), str(tmp_path / "missing.so")], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "cannot load" in proc.stderr, (proc.stdout, proc.stderr)
