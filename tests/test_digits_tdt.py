"""examples/digits with --loss tdt and --loss pruned_tdt: a few TDT (or
pruned TDT) training steps on one batch of the espeak-ng corpus lower the
loss, the greedy TDT search returns digit
strings and visits at most the encoder frames (exactly the frames the
forced durations predict), and the recipe's command line trains with it."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "examples" / "digits"
DURATIONS = [0, 1, 2, 3, 4]

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install -y espeak-ng); the digits example synthesizes its corpus with it",
)

sys.path.insert(0, str(RECIPE))
try:
    from corpus import load_split
    from data import collate
    from decode import greedy_search_tdt
    from model import BLANK, Transducer
finally:
    sys.path.remove(str(RECIPE))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("digits_tdt_data")


@pytest.fixture(scope="module")
def batch(data_dir):
    train = load_split(data_dir, "train", 8, 1, log=lambda *a: None)
    return collate(train, list(range(8)), "cpu")


def tdt_model(seed=0):
    torch.manual_seed(seed)
    return Transducer(dim=64, num_layers=1, durations=DURATIONS)


def test_tdt_steps_lower_the_loss(batch):
    feats, feat_lens, symbols, symbol_lens, _ = batch
    model = tdt_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(6):
        _, loss = model(feats, feat_lens, symbols, symbol_lens, loss="tdt")
        optimizer.zero_grad()
        (loss / len(symbols)).backward()
        if step == 0:  # the duration head is trained too
            assert model.joiner.duration_output.weight.grad.abs().sum() > 0
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(x) and x > 0 for x in losses), losses
    assert losses[-1] < 0.9 * losses[0], losses
    # omega mixes in the plain RNN-T loss of the label logits.
    _, mixed = model(feats, feat_lens, symbols, symbol_lens, loss="tdt", tdt_omega=0.5)
    assert math.isfinite(mixed.item()) and mixed.item() != pytest.approx(losses[-1])


def test_pruned_tdt_steps_lower_the_loss(batch):
    """The pruned TDT recipe as train.py combines it (0.5 * simple + pruned):
    both losses finite, the total falls, and the joiner's duration head and
    the simple loss's label and duration projections all get gradients."""
    feats, feat_lens, symbols, symbol_lens, _ = batch
    model = tdt_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    trained = {"joiner duration head": model.joiner.duration_output, "simple am": model.simple_am_proj,
               "simple lm": model.simple_lm_proj, "simple am duration": model.simple_am_duration_proj,
               "simple lm duration": model.simple_lm_duration_proj}
    totals = []
    for step in range(8):
        simple, pruned = model(feats, feat_lens, symbols, symbol_lens, loss="pruned_tdt", s_range=3)
        assert math.isfinite(simple.item()) and math.isfinite(pruned.item()), (simple, pruned)
        loss = 0.5 * simple + pruned
        optimizer.zero_grad()
        (loss / len(symbols)).backward()
        if step == 0:
            for name, layer in trained.items():
                assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0, name
        optimizer.step()
        totals.append(loss.item())
    assert all(x > 0 for x in totals), totals
    assert totals[-1] < 0.9 * totals[0], totals


def test_pruned_tdt_needs_durations(batch):
    feats, feat_lens, symbols, symbol_lens, _ = batch
    torch.manual_seed(0)
    model = Transducer(dim=32, num_layers=1)
    with pytest.raises(ValueError, match="pruned_tdt.*durations"):
        model(feats, feat_lens, symbols, symbol_lens, loss="pruned_tdt")


def test_tdt_greedy_search_is_well_formed(batch):
    feats, feat_lens, _, _, _ = batch
    model = tdt_model().eval()
    hyps, visited, enc_lens = greedy_search_tdt(model, feats, feat_lens)
    assert len(hyps) == len(feats) and all(h == "" or h.isdigit() for h in hyps), hyps
    assert bool((enc_lens > 0).all())
    assert bool((visited >= 1).all() & (visited <= enc_lens).all()), (visited, enc_lens)


def force(model, label, duration):
    """Make the joiner predict ``label`` and ``duration`` everywhere."""
    with torch.no_grad():
        for layer, best in ((model.joiner.output, label), (model.joiner.duration_output, DURATIONS.index(duration))):
            layer.weight.zero_()
            layer.bias.fill_(-10.0)
            layer.bias[best] = 10.0


@pytest.mark.parametrize("label, duration", [(BLANK, 2), (BLANK, 0), (8, 3), (8, 0)])
def test_tdt_greedy_search_skips_by_the_duration(batch, label, duration):
    """A blank moves by max(d, 1) frames; a symbol by d, and at most 3
    symbols (max_sym_per_frame) are emitted before the frame must change."""
    feats, feat_lens, _, _, _ = batch
    model = tdt_model().eval()
    force(model, label, duration)
    hyps, visited, enc_lens = greedy_search_tdt(model, feats, feat_lens)
    step = max(duration, 1)
    expected_visits = [math.ceil(t / step) for t in enc_lens.tolist()]
    assert visited.tolist() == expected_visits
    if label == BLANK:
        assert hyps == [""] * len(feats)
    else:  # token 8 is the digit 7
        per_frame = 3 if duration == 0 else 1
        assert hyps == ["7" * (per_frame * v) for v in expected_visits]


@pytest.mark.parametrize("loss", ["tdt", "pruned_tdt"])
def test_recipe_trains_with_tdt(data_dir, tmp_path, loss):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(RECIPE / "train.py"), "--loss", loss, "--data-dir", str(data_dir),
           "--out-dir", str(tmp_path), "--dim", "64", "--num-layers", "1", "--batch-size", "4",
           "--num-train", "8", "--num-test", "4", "--epochs", "2", "--lr", "3e-3",
           "--lr-warmup-steps", "2", "--log-every", "1000"]
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(math.isfinite(h["pruned"]) for h in history), history
    if loss == "tdt":  # no simple loss
        assert all(h["simple"] == 0 for h in history), history
    else:
        assert all(math.isfinite(h["simple"]) and h["simple"] > 0 for h in history), history
    assert history[1]["pruned"] < history[0]["pruned"], history
    for h in history:
        assert 4 <= h["frames_visited"] <= h["frames"], h
    assert "frames visited" in result.stdout
