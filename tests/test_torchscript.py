"""TorchScript: a module whose forward calls ``torch.ops.rnnt.*`` (the pruned
pipeline and the full loss) is scripted, saved, and loaded back in a fresh
process that either imported ``rnnt_ops`` or only loaded the op library
with ``torch.ops.load_library(rnnt_ops.library_path())``; forward and
backward there give the same losses and gradients as eager Python (the
public ``rnnt_ops`` API) here. Tensors travel as torch.save files."""

import subprocess
import sys
import textwrap

import pytest
import torch

import rnnt_ops
from standin import BLANK, S_RANGE, ScriptableTransducerLoss, scriptable_inputs


def eager_reference(model: ScriptableTransducerLoss, features, symbols, boundary):
    """The same computation through the public Python API."""
    encoder_out, decoder_out = model.encode(features, symbols)
    simple, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
        model.simple_lm_proj(decoder_out), model.simple_am_proj(encoder_out), symbols, BLANK,
        boundary, reduction="sum", return_grad=True,
    )
    ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary, S_RANGE)
    am_pruned, lm_pruned = rnnt_ops.do_rnnt_pruning(
        model.joiner_encoder_proj(encoder_out), model.joiner_decoder_proj(decoder_out), ranges
    )
    pruned = rnnt_ops.rnnt_loss_pruned(
        model.joiner_output(torch.tanh(am_pruned + lm_pruned)), symbols, ranges, BLANK, boundary,
        reduction="sum",
    )
    full_logits = model.joiner_output(
        torch.tanh(
            model.joiner_encoder_proj(encoder_out)[:, :, None] + model.joiner_decoder_proj(decoder_out)[:, None]
        )
    )
    full = rnnt_ops.rnnt_loss(full_logits, symbols, BLANK, boundary, reduction="sum")
    return 0.5 * simple + pruned, simple, pruned, full


# Run in the fresh process: load the op library (one of two ways), the
# scripted modules and the inputs; forward + backward; save the results.
CHILD = textwrap.dedent(
    """
    import sys
    import torch

    mode, lib, directory = sys.argv[1:4]
    if mode == "import":
        import rnnt_ops  # noqa: F401
    else:
        torch.ops.load_library(lib)
    results = {}
    for dtype in ("float32", "float64"):
        model = torch.jit.load(f"{directory}/model_{dtype}.pt")
        inputs = torch.load(f"{directory}/inputs_{dtype}.pt")
        features = inputs["features"].requires_grad_()
        losses = model(features, inputs["symbols"], inputs["boundary"])
        (losses[0] + losses[3]).backward()
        results[dtype] = {
            "losses": [loss.detach() for loss in losses],
            "grads": {name: p.grad for name, p in model.named_parameters()},
            "features_grad": features.grad,
        }
    results["imported_rnnt_ops"] = "rnnt_ops" in sys.modules
    torch.save(results, f"{directory}/results_{mode}.pt")
    """
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Scripted modules and inputs on disk, and the eager results."""
    directory = tmp_path_factory.mktemp("torchscript")
    expected = {}
    for dtype in (torch.float32, torch.float64):
        name = str(dtype).split(".")[1]
        torch.manual_seed(0)
        model = ScriptableTransducerLoss().to(dtype)
        scripted = torch.jit.script(model)
        torch.jit.save(scripted, str(directory / f"model_{name}.pt"))
        inputs = scriptable_inputs(dtype)
        torch.save(inputs, directory / f"inputs_{name}.pt")
        features = inputs["features"].clone().requires_grad_()
        losses = eager_reference(model, features, inputs["symbols"], inputs["boundary"])
        (losses[0] + losses[3]).backward()
        expected[name] = {
            "losses": [loss.detach() for loss in losses],
            "grads": {n: p.grad for n, p in model.named_parameters()},
            "features_grad": features.grad,
        }
    return directory, expected


def tolerance(name):
    return 1e-6 if name == "float32" else 1e-12


def compare(got, expected):
    for name, exp in expected.items():
        tol = tolerance(name)
        for i, (a, b) in enumerate(zip(got[name]["losses"], exp["losses"])):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=lambda m: f"{name} loss {i}: {m}")
        assert set(got[name]["grads"]) == set(exp["grads"])
        for param, g in exp["grads"].items():
            assert g is not None and got[name]["grads"][param] is not None, param
            torch.testing.assert_close(
                got[name]["grads"][param], g, rtol=tol, atol=tol, msg=lambda m: f"{name} grad {param}: {m}"
            )
        torch.testing.assert_close(
            got[name]["features_grad"], exp["features_grad"], rtol=tol, atol=tol,
            msg=lambda m: f"{name} features grad: {m}",
        )


def test_scripted_module_matches_eager_in_process(saved):
    directory, expected = saved
    for name, exp in expected.items():
        model = torch.jit.load(str(directory / f"model_{name}.pt"))
        inputs = torch.load(directory / f"inputs_{name}.pt")
        features = inputs["features"].requires_grad_()
        losses = model(features, inputs["symbols"], inputs["boundary"])
        (losses[0] + losses[3]).backward()
        got = {
            "losses": [loss.detach() for loss in losses],
            "grads": {n: p.grad for n, p in model.named_parameters()},
            "features_grad": features.grad,
        }
        compare({name: got}, {name: exp})


@pytest.mark.parametrize("mode", ["import", "load_library"])
def test_scripted_module_in_fresh_process(saved, mode):
    directory, expected = saved
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(rnnt_ops.library_path()), str(directory)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, f"child ({mode}) failed:\n{proc.stdout}\n{proc.stderr}"
    results = torch.load(directory / f"results_{mode}.pt")
    # The load_library variant never imported the Python package.
    assert results.pop("imported_rnnt_ops") == (mode == "import")
    compare(results, expected)
