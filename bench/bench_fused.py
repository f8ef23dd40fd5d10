"""Fused versus unfused full RNN-T loss on CPU, float32 and bfloat16, in the
same run: peak memory (RSS above the inputs, each case in a fresh process)
and step time (loss forward + backward on given logits).

* fused: ``rnnt_ops.rnnt_loss`` (one pass per logits row for the normaliser
  and the gathers; backward writes d loss / d logits directly).
* fused, inplace_grad: the same, writing d loss / d logits over the logits.
* unfused (baseline): the same loss built from plain PyTorch ops,
  ``log_softmax`` + ``gather`` into px/py + ``mutual_information_recursion``.

With ``--joiner-dim D`` the step also runs a joiner: the logits are
``Linear(D, C)(tanh(hidden))`` for a given ``hidden [B][T][S+1][D]``, as in
training (then the joiner's own backward buffers count too).

    python bench/bench_fused.py [--B 8 --T 200 --S 50 --C 500 --threads 1 --joiner-dim 0]
"""

import argparse
import json
import resource
import subprocess
import sys
import time


def unfused_loss(logits, symbols, blank):
    import torch

    from rnnt_ops import mutual_information_recursion

    B, T, S1, C = logits.shape
    S = S1 - 1
    logp = logits.float().log_softmax(-1)  # [B][T][S+1][C]: the copy fusing avoids
    px = logp[:, :, :S].gather(3, symbols[:, None, :, None].expand(B, T, S, 1)).squeeze(3)
    px = torch.cat([px.transpose(1, 2), px.new_full((B, S, 1), float("-inf"))], dim=2)
    py = logp[..., blank].transpose(1, 2)
    return -mutual_information_recursion(px, py).sum()


MODES = {"unfused": "unfused (baseline)", "fused": "fused", "fused_inplace": "fused, inplace_grad"}


def child(mode: str, dtype_name: str, args) -> None:
    import torch

    import rnnt_ops

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = getattr(torch, dtype_name)
    lattice = (args.B, args.T, args.S + 1)
    if args.joiner_dim:
        hidden = torch.randn(*lattice, args.joiner_dim, dtype=dtype, requires_grad=True)
        joiner = torch.nn.Linear(args.joiner_dim, args.C).to(dtype)
    else:
        logits_in = torch.randn(*lattice, args.C, dtype=dtype, requires_grad=True)
    symbols = torch.randint(1, args.C, (args.B, args.S))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    logits = joiner(torch.tanh(hidden)) if args.joiner_dim else logits_in
    if mode == "unfused":
        loss = unfused_loss(logits, symbols, 0)
    else:
        loss = rnnt_ops.rnnt_loss(logits, symbols, 0, reduction="sum",
                                  inplace_grad=mode == "fused_inplace")
    del logits  # the step keeps no reference of its own, as in training
    loss.backward()
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"extra_kib": peak - before, "seconds": elapsed, "loss": loss.item()}))


def main() -> None:
    parser = argparse.ArgumentParser()
    for name, default in (("B", 8), ("T", 200), ("S", 50), ("C", 500), ("threads", 1),
                          ("joiner-dim", 0)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args)
        return
    shape = ["--B", str(args.B), "--T", str(args.T), "--S", str(args.S), "--C", str(args.C),
             "--threads", str(args.threads), "--joiner-dim", str(args.joiner_dim)]
    logits_mib = args.B * args.T * (args.S + 1) * args.C * 4 / 2**20
    joiner = f"joiner Linear({args.joiner_dim}, C)(tanh(hidden))" if args.joiner_dim else "given logits"
    print(f"B={args.B} T={args.T} S={args.S} C={args.C}, {joiner}, {args.threads} thread(s), CPU; "
          f"float32 logits = {logits_mib:.0f} MiB")
    print("| dtype | path | step peak MiB (above inputs) | step s | peak ratio to unfused | loss |")
    print("|---|---|---|---|---|---|")
    for dtype in ("float32", "bfloat16"):
        results = {}
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--child", mode, dtype, *shape],
                                 check=True, capture_output=True, text=True).stdout
            results[mode] = json.loads(out.strip().splitlines()[-1])
        base = results["unfused"]["extra_kib"]
        for mode, label in MODES.items():
            r = results[mode]
            print(f"| {dtype} | {label} | {r['extra_kib'] / 1024:.0f} | {r['seconds']:.2f} | "
                  f"{r['extra_kib'] / base:.3f} | {r['loss']:.2f} |")


if __name__ == "__main__":
    main()
