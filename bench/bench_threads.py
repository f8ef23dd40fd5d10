"""CPU thread scaling of the two hot kernels, in the same run: the lattice
recursion (forward + backward, parallel over batch items; on equal items and
on ragged LibriSpeech batches of 8) and the fused
joiner log-probs (parallel over logits rows: forward, backward into a new
gradient buffer, backward in place), with 1 and N threads; the 1-thread time
is the baseline. The backward into a new buffer also pays the operating
system's first-touch page faults of that buffer (logits-sized), which the
in-place backward (``inplace_grad=True``) does not.

    python bench/bench_threads.py [--threads 2 --repeats 5] [--shapes PATH]

The ragged batches are the first 5 groups of 8 consecutive (T, U) rows of
--shapes (default bench/data/librispeech_shapes.json; a seeded stand-in
without it, see bench/shapes.py), timed together.
"""

import argparse
import sys
from pathlib import Path

import torch

import rnnt_ops  # noqa: F401  (loads the ops)
from bench_recursion import median_ms

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.shapes import DEFAULT_SHAPES_PATH, batches, get_shapes  # noqa: E402


def recursion_case():
    px = torch.randn(16, 100, 501).log_softmax(-1)
    py = torch.randn(16, 101, 500).log_softmax(-1)

    def run():
        scores, p = torch.ops.rnnt._mutual_information_forward(px, py, None)
        torch.ops.rnnt._mutual_information_backward(px, py, None, p)

    return "recursion fwd+bwd, B=16 S=100 T=500 float32", run


def ragged_recursion_case(shapes_path):
    rows, _ = get_shapes(shapes_path)
    inputs = []
    for group in batches(rows, 8)[:5]:
        T = max(t for t, _ in group)
        S = max(u for _, u in group)
        px = torch.randn(8, S, T + 1).log_softmax(-1)
        py = torch.randn(8, S + 1, T).log_softmax(-1)
        boundary = torch.tensor([[0, 0, u, t] for t, u in group])
        inputs.append((px, py, boundary))

    def run():
        for px, py, boundary in inputs:
            scores, p = torch.ops.rnnt._mutual_information_forward(px, py, boundary)
            torch.ops.rnnt._mutual_information_backward(px, py, boundary, p)

    return "recursion fwd+bwd, 5 ragged LibriSpeech batches of 8, float32", run


def joiner_cases():
    logits = torch.randn(8, 200, 51, 500)
    index = torch.randint(0, 500, (8, 200, 51))
    sym, blank, norm = torch.ops.rnnt._joiner_logprobs(logits, index, 0)
    grad_sym, grad_blank = torch.ones_like(sym), torch.ones_like(blank)
    overwritten = logits.clone()
    shape = "[8][200][51][500] float32"
    return [
        (f"fused joiner forward, {shape}",
         lambda: torch.ops.rnnt._joiner_logprobs(logits, index, 0)),
        (f"fused joiner backward, new gradient buffer, {shape}",
         lambda: torch.ops.rnnt._joiner_logprobs_backward(
             grad_sym, grad_blank, logits, index, norm, 0)),
        (f"fused joiner backward in place, {shape}",
         lambda: torch.ops.rnnt._joiner_logprobs_backward_(
             grad_sym, grad_blank, overwritten, index, norm, 0)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", default=str(DEFAULT_SHAPES_PATH))
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"median of {args.repeats}; baseline: the same kernel on 1 thread")
    print("| kernel | 1 thread ms | {n} threads ms | speed-up |".format(n=args.threads))
    print("|---|---|---|---|")
    for name, run in [recursion_case(), ragged_recursion_case(args.shapes), *joiner_cases()]:
        torch.set_num_threads(1)
        one = median_ms(run, args.repeats)
        torch.set_num_threads(args.threads)
        many = median_ms(run, args.repeats)
        print(f"| {name} | {one:.1f} | {many:.1f} | {one / many:.2f}x |")


if __name__ == "__main__":
    main()
