"""examples/digits: a tiny espeak-ng corpus trains (loss falls, decoding gives
digit strings), and 2-process gloo DDP keeps the ranks' parameters identical."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "examples" / "digits"

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install -y espeak-ng); the digits example synthesizes its corpus with it",
)


def run_recipe(args, tmp_path, nproc=1):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if nproc == 1:
        cmd = [sys.executable, str(RECIPE / "train.py")]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               str(RECIPE / "train.py"), "--threads", "1"]
    cmd += ["--data-dir", str(tmp_path / "data"), "--out-dir", str(tmp_path / "exp"), "--dim", "64",
            "--num-layers", "1", "--batch-size", "10", "--log-every", "1000"] + args
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_tiny_corpus_trains_and_decodes(tmp_path):
    run_recipe(["--num-train", "50", "--num-test", "10", "--epochs", "2", "--lr", "3e-3",
                "--lr-warmup-steps", "2", "--warm-steps", "5"], tmp_path)
    history = json.loads((tmp_path / "exp" / "history.json").read_text())
    assert len(history) == 2
    assert history[1]["pruned"] < history[0]["pruned"], history
    assert history[1]["simple"] < history[0]["simple"], history
    assert (tmp_path / "data" / "train-50-1-v1.pt").exists()  # the corpus is cached

    # Decoding returns digit strings (the model is far from trained: any
    # digit string, including the empty one, is fine).
    sys.path.insert(0, str(RECIPE))
    try:
        from corpus import load_split
        from data import collate
        from decode import edit_distance, greedy_search
        from model import Transducer
    finally:
        sys.path.remove(str(RECIPE))
    test = load_split(tmp_path / "data", "test", 10, 1001)
    assert all(t.isdigit() and 3 <= len(t) <= 7 for t in test["texts"])
    assert all(f.shape[1] == 80 for f in test["feats"])
    model = Transducer(dim=64, num_layers=1).eval()
    feats, feat_lens, _, _, texts = collate(test, list(range(4)), "cpu")
    hyps = greedy_search(model, feats, feat_lens)
    assert len(hyps) == 4 and all(isinstance(h, str) and (h == "" or h.isdigit()) for h in hyps)
    assert edit_distance("123", "1x3") == 1 and edit_distance("", "12") == 2


def test_ddp_gloo_ranks_stay_identical(tmp_path):
    run_recipe(["--num-train", "24", "--num-test", "4", "--epochs", "1", "--dump-params"], tmp_path, nproc=2)
    p0 = torch.load(tmp_path / "exp" / "params-rank0.pt")
    p1 = torch.load(tmp_path / "exp" / "params-rank1.pt")
    assert p0.keys() == p1.keys()
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k
    history = json.loads((tmp_path / "exp" / "history.json").read_text())
    assert history[0]["step"] == 3  # 24 utterances / global batch 10 -> 3 steps on each rank
