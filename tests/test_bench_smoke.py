"""The transducer-loss benchmark's pieces run (bench/shapes.py, bench/steps.py,
bench/runner.py's in-process measurement) on a tiny configuration. No timing
assertions: this only checks that the benchmark works."""

import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.runner import run_in_process  # noqa: E402
from bench.shapes import (  # noqa: E402
    DEFAULT_SHAPES_PATH, batches, get_shapes, load_shapes, scale_lengths, standin_shapes,
)
from bench.steps import (  # noqa: E402
    STEPS, BenchModel, full_logits_gib, full_step, make_batch, pruned_step, torchaudio_rnnt_loss,
    torchaudio_step,
)

SHARED = DEFAULT_SHAPES_PATH


def test_standin_shapes_seeded_and_in_range():
    shapes = standin_shapes(300, seed=3)
    assert shapes == standin_shapes(300, seed=3)
    assert all(45 <= t <= 474 and 7 <= u <= 120 for t, u in shapes)
    assert 250 < sum(t for t, _ in shapes) / len(shapes) < 380


def test_shapes_loader(tmp_path):
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps({"TU": [[10, 3], [12, 4], [8, 2]]}))
    assert load_shapes(path) == [(10, 3), (12, 4), (8, 2)]
    shapes, source = get_shapes(path)
    assert len(shapes) == 3 and str(path) in source
    shapes, source = get_shapes(tmp_path / "missing.json", n=60, seed=1)
    assert shapes == standin_shapes(60, seed=1) and "stand-in" in source
    assert [len(g) for g in batches(shapes, 30)] == [30, 30]


def test_scale_lengths_rounds_up():
    assert scale_lengths([(100, 21), (3, 0), (8, 4)], 4) == [(25, 6), (1, 0), (2, 1)]


@pytest.mark.skipif(not SHARED.is_file(), reason="shared LibriSpeech shapes file absent")
def test_shared_shapes_file_parses():
    shapes = load_shapes(SHARED)
    assert len(shapes) >= 30 and all(t >= 1 and u >= 0 for t, u in shapes)


def tiny_batch(device="cpu"):
    shapes = standin_shapes(2, seed=0)
    shapes = [(t // 10, max(u // 10, 1)) for t, u in shapes]
    return shapes, make_batch(shapes, vocab_size=20, dim=16, device=device, seed=0)


def test_inplace_full_step_matches_full_step(device):
    losses, grads = [], []
    for impl in ("full", "full_inplace"):
        torch.manual_seed(0)
        model = BenchModel(20, 16).to(device)
        _, batch = tiny_batch(device)
        losses.append(STEPS[impl](model, batch))
        grads.append((batch.encoder_out.grad, model.output.weight.grad))
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("step", [full_step, pruned_step, STEPS["pruned_smoothed"]],
                         ids=["full", "pruned", "pruned_smoothed"])
def test_steps_give_finite_losses_and_grads(step, device):
    torch.manual_seed(0)
    model = BenchModel(20, 16).to(device)
    _, batch = tiny_batch(device)
    loss = step(model, batch)
    assert loss.dim() == 0 and math.isfinite(loss.item()) and loss.item() > 0
    assert batch.encoder_out.grad is not None and torch.isfinite(batch.encoder_out.grad).all()
    assert model.output.weight.grad is not None and torch.isfinite(model.output.weight.grad).all()


@pytest.mark.skipif(torchaudio_rnnt_loss() is None, reason="torchaudio not importable")
def test_torchaudio_step_matches_full(device):
    torch.manual_seed(0)
    model = BenchModel(20, 16).to(device)
    losses = [step(model, tiny_batch(device)[1]).item() for step in (full_step, torchaudio_step)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_runner_in_process_and_size_estimate():
    shapes, _ = tiny_batch()
    cfg = dict(impl="pruned", groups=[shapes, shapes], warmup=1, vocab=20, dim=16, s_range=5,
               device="cpu", dtype="float32", seed=0)
    result = run_in_process(cfg)
    assert len(result["times_ms"]) == 1 and math.isfinite(result["losses"][0])
    B, T, U = 2, max(t for t, _ in shapes), max(u for _, u in shapes)
    assert full_logits_gib(shapes, 20) == B * T * (U + 1) * 20 * 4 / 2**30


@pytest.mark.parametrize("impl", ["full", "full_inplace", "pruned"])
def test_runner_in_bfloat16_matches_float32(impl):
    shapes, _ = tiny_batch()
    losses = {}
    for dtype in ("float32", "bfloat16"):
        cfg = dict(impl=impl, groups=[shapes], warmup=0, vocab=20, dim=16, s_range=5,
                   device="cpu", dtype=dtype, seed=0)
        losses[dtype] = run_in_process(cfg)["losses"][0]
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=5e-2)


def test_bench_loss_skips_implementations_without_the_dtype():
    from bench import bench_loss

    args = bench_loss.parse_args(["--dtype", "bfloat16"])
    shapes, _ = tiny_batch()
    for impl in ("plain_full", "plain_pruned", "torchaudio"):
        result = bench_loss.run(args, impl, [shapes], 0, 20)
        assert result == {"skipped": "skipped: takes no bfloat16 input"}
