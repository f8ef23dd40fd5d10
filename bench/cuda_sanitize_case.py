"""A small CUDA run of every custom kernel (recursion, fused joiner, simple
loss lattice and its smoothed form, prune ranges, pruned lattice) for
compute-sanitizer (memcheck, racecheck, synccheck): every launch path on
small shapes, checked against the CPU kernels. Prints "ok" on success.

    compute-sanitizer --tool racecheck python bench/cuda_sanitize_case.py
"""

import torch

import rnnt_ops  # noqa: F401  (loads the ops)


def run(px, py, boundary):
    scores, p = torch.ops.rnnt._mutual_information_forward(px, py, boundary)
    return (scores, p) + tuple(
        torch.ops.rnnt._mutual_information_backward(px, py, boundary, p)
    )


def main() -> None:
    g = torch.Generator().manual_seed(0)
    # (B, S, T, modified, dtype): several warps with ragged boxes, S = 0,
    # T = 0, diagonals longer than a block (600 > 512 threads) and the ring
    # in global memory (float64, S = 2100).
    cases = [
        (3, 40, 50, False, torch.float32),
        (3, 40, 50, True, torch.float64),
        (2, 0, 7, False, torch.float32),
        (2, 5, 0, False, torch.float64),
        (1, 600, 601, True, torch.float32),
        (1, 2100, 3, False, torch.float64),
    ]
    for B, S, T, modified, dtype in cases:
        px = torch.randn(B, S, T if modified else T + 1, generator=g, dtype=dtype)
        py = torch.randn(B, S + 1, T, generator=g, dtype=dtype)
        boundary = torch.tensor([[0, 0, S, T]] + [[S // 3, T // 4, S - S // 4, T]] * (B - 1))
        cpu = run(px, py, boundary)
        gpu = run(px.cuda(), py.cuda(), boundary.cuda())
        for a, b in zip(cpu[:2], gpu[:2]):  # scores, p
            torch.testing.assert_close(b.cpu(), a, rtol=1e-5, atol=1e-4)
        # Gradients against float64: they are exp of differences of terms
        # as large as |p|, so float32 leaves absolute errors of order
        # eps * max|p| (2e-5 on the CPU here; tests/test_cuda_vs_cpu.py).
        exact = cpu if dtype == torch.float64 else run(px.double(), py.double(), boundary)
        for a, b in zip(exact[2:], gpu[2:]):
            torch.testing.assert_close(b.cpu().double(), a, rtol=1e-5,
                                       atol=1e-3 if dtype == torch.float32 else 1e-9)
    # Fused joiner log-probs, forward + backward, every dtype, C not a
    # multiple of the warp, an empty batch of rows.
    for dtype, rows, C in [(torch.float32, (3, 7, 5), 37), (torch.bfloat16, (2, 4, 3), 500),
                           (torch.float64, (0, 4), 9)]:
        logits = torch.randn(*rows, C, generator=g).to(dtype)
        index = torch.randint(0, C, rows, generator=g)
        outs = []
        for device in ("cpu", "cuda"):
            x = logits.to(device).requires_grad_()
            sym, blank, norm = torch.ops.rnnt._joiner_logprobs(x, index.to(device), 1)
            (grad,) = torch.autograd.grad((sym + 2 * blank).sum(), x) if x.numel() else (x,)
            outs.append([t.detach().cpu().float() for t in (sym, blank, norm, grad)])
        for a, b in zip(*outs):
            torch.testing.assert_close(b, a, rtol=1e-2, atol=1e-3)
    # The simple loss's fused lattice (forward and backward, through its
    # public op) and the prune ranges: every rnnt_type, ragged boundaries,
    # S = 0, blocks of one warp and of 256 threads with several frames each.
    for rnnt_type, B, S, T in [("regular", 3, 6, 9), ("modified", 2, 4, 7),
                               ("constrained", 2, 0, 5), ("regular", 2, 30, 700)]:
        lm = torch.randn(B, S + 1, 11, generator=g, dtype=torch.float64)
        am = torch.randn(B, T, 11, generator=g, dtype=torch.float64)
        symbols = torch.randint(0, 11, (B, S), generator=g)
        boundary = torch.tensor([[0, 0, S, T]] + [[0, 0, S // 2, T - 1]] * (B - 1))
        outs = []
        for device in ("cpu", "cuda"):
            x = [t.to(device).requires_grad_() for t in (lm, am)]
            px, py = torch.ops.rnnt.get_rnnt_logprobs(x[0], x[1], symbols.to(device), 0,
                                                      rnnt_type, boundary.to(device))
            pxm = px.masked_fill(px.isinf(), 0)
            grads = torch.autograd.grad((pxm * pxm).sum() + py.sum(), x)
            outs.append([t.detach().cpu() for t in (pxm, py) + grads])
        for a, b in zip(*outs):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)
        # The same occupation-like inputs on both devices: equal windows.
        occupations = [t.exp().float() for t in outs[0][:2]]
        s_range = max(2, (S - 1) // T + 2) if rnnt_type == "regular" else 2
        cpu, gpu = (torch.ops.rnnt.get_rnnt_prune_ranges(
            *[t.to(device) for t in occupations], boundary.to(device), s_range).cpu()
            for device in ("cpu", "cuda"))
        assert torch.equal(cpu, gpu)
        # The pruned lattice (placement forward, gather backward) inside
        # those windows, and the smoothed loss's lattice with its offsets.
        logits = torch.randn(B, T, cpu.size(2), 11, generator=g, dtype=torch.float64)
        outs = []
        for device in ("cpu", "cuda"):
            x = [t.to(device).requires_grad_() for t in (logits, lm, am)]
            px, py = rnnt_ops.get_rnnt_logprobs_pruned(
                x[0], symbols.to(device), cpu.to(device), 0, boundary.to(device), rnnt_type)
            smoothed = rnnt_ops.rnnt_loss_smoothed(
                x[1], x[2], symbols.to(device), 0, 0.25, 0.1, boundary.to(device), rnnt_type)
            pxm = px.masked_fill(px.isinf(), 0)
            grads = torch.autograd.grad((pxm * pxm).sum() + py.sum() + smoothed, x)
            outs.append([t.detach().cpu() for t in (pxm, py, smoothed) + grads])
        for a, b in zip(*outs):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)
    torch.cuda.synchronize()
    print("ok")


if __name__ == "__main__":
    main()
