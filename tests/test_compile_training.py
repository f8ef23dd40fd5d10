"""torch.compile(fullgraph=True) over whole transducer training steps.

Two identical model copies train side by side, one eagerly and one through a
compiled loss function (its backward is the AOTAutograd-compiled backward
graph; the optimizer step is compiled too). Over three steps with different
batch sizes and utterance lengths, the losses, every parameter gradient and
the updated parameters must match eager, and the batch/length dimensions are
marked dynamic so that new shapes do not compile a new graph each step.

The pruned step runs on the default inductor backend in float64 (1e-12
relative) and on aot_eager in float32 (1e-6); the full-loss step on
aot_eager in float64. (Inductor in float32 differs from eager by a few
float32 ulps, ~3e-6 relative, in reduced weight gradients, because it
reorders the sums; that is not a property of the rnnt ops.)
"""

import copy

import pytest
import torch
import torch._dynamo
import torch._inductor.config

import rnnt_ops
from standin import StandInTransducer

BLANK = 0
VOCAB = 7
FEATURES = 5
DIM = 8
S_RANGE = 3
# (B, T, S) per step: a new batch size and new lengths every step.
SHAPES = [(2, 9, 3), (3, 11, 4), (4, 14, 6)]


class StandIn(StandInTransducer):
    def __init__(self):
        super().__init__(FEATURES, VOCAB, DIM, BLANK)


def pruned_loss_fn(model: StandIn, features, symbols, boundary):
    encoder_out, decoder_out = model.encode(features, symbols)
    simple_loss, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
        lm=model.simple_lm_proj(decoder_out),
        am=model.simple_am_proj(encoder_out),
        symbols=symbols,
        termination_symbol=BLANK,
        boundary=boundary,
        reduction="sum",
        return_grad=True,
    )
    ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary, S_RANGE)
    am_pruned, lm_pruned = rnnt_ops.do_rnnt_pruning(
        am=model.joiner_encoder_proj(encoder_out),
        lm=model.joiner_decoder_proj(decoder_out),
        ranges=ranges,
    )
    logits = model.joiner(am_pruned, lm_pruned)  # [B][T][S_RANGE][VOCAB]
    pruned_loss = rnnt_ops.rnnt_loss_pruned(logits, symbols, ranges, BLANK, boundary, reduction="sum")
    loss = 0.5 * simple_loss + pruned_loss
    return loss, simple_loss, pruned_loss


def full_loss_fn(model: StandIn, features, symbols, boundary):
    encoder_out, decoder_out = model.encode(features, symbols)
    am = model.joiner_encoder_proj(encoder_out)[:, :, None, :]  # [B][T][1][DIM]
    lm = model.joiner_decoder_proj(decoder_out)[:, None, :, :]  # [B][1][S+1][DIM]
    logits = model.joiner(am, lm)  # [B][T][S+1][VOCAB]
    loss = rnnt_ops.rnnt_loss(logits, symbols, BLANK, boundary, reduction="mean")
    return loss, loss, loss


def batch(B, T, S, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(B, T, FEATURES, generator=g, dtype=dtype)
    symbols = torch.randint(1, VOCAB, (B, S), generator=g)
    # Ragged: the last item is shorter in both labels and frames.
    boundary = torch.tensor([[0, 0, S, T]] * (B - 1) + [[0, 0, S - 1, T - 3]])
    return features, symbols, boundary


def run_training(loss_fn, backend, dtype):
    # Compile in-process: a worker pool costs more than it saves here.
    with torch._inductor.config.patch(compile_threads=1):
        return _run_training(loss_fn, backend, dtype)


def _run_training(loss_fn, backend, dtype):
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    torch.manual_seed(0)
    eager_model = StandIn().to(dtype)
    compiled_model = copy.deepcopy(eager_model)
    eager_opt = torch.optim.SGD(eager_model.parameters(), lr=0.05, momentum=0.9)
    compiled_opt = torch.optim.SGD(compiled_model.parameters(), lr=0.05, momentum=0.9)

    graphs = {"loss": 0, "optimizer": 0}

    def counting(what):
        real = torch._dynamo.lookup_backend(backend)

        def compile_graph(gm, example_inputs):
            graphs[what] += 1
            return real(gm, example_inputs)

        return compile_graph

    compiled_loss = torch.compile(loss_fn, fullgraph=True, backend=counting("loss"))

    # torch.optim's step() holds a deliberate graph break (_use_grad), so it
    # is compiled without fullgraph, as torch's own recipe does.
    @torch.compile(backend=counting("optimizer"))
    def compiled_opt_step():
        compiled_opt.step()

    # float32: the compiled graph may reassociate sums (torch 2.11's
    # aot_eager differs from eager by ~2e-6 relative on these gradients).
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    atol = 1e-5 if dtype == torch.float32 else 1e-12
    for step, (B, T, S) in enumerate(SHAPES):
        features, symbols, boundary = batch(B, T, S, dtype, seed=step)
        # Batch and length dimensions are dynamic from the first step on.
        for tensor, dims in ((features, (0, 1)), (symbols, (0, 1)), (boundary, (0,))):
            torch._dynamo.mark_dynamic(tensor, list(dims))

        eager_opt.zero_grad()
        eager = loss_fn(eager_model, features, symbols, boundary)
        eager[0].backward()
        eager_opt.step()

        compiled_opt.zero_grad()
        got = compiled_loss(compiled_model, features, symbols, boundary)
        got[0].backward()
        # Gradients are checked before the (compiled) optimizer step.
        for (name, p_ref), p in zip(eager_model.named_parameters(), compiled_model.parameters()):
            torch.testing.assert_close(
                p.grad, p_ref.grad, rtol=rtol, atol=atol, msg=lambda m: f"step {step} grad {name}: {m}"
            )
        compiled_opt_step()

        for what, a, b in zip(("loss", "simple", "pruned"), got, eager):
            torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=lambda m: f"step {step} {what}: {m}")
        for (name, p_ref), p in zip(eager_model.named_parameters(), compiled_model.parameters()):
            torch.testing.assert_close(
                p, p_ref, rtol=rtol, atol=atol, msg=lambda m: f"step {step} param {name}: {m}"
            )

    counters = torch._dynamo.utils.counters
    return {
        "loss_graphs": graphs["loss"],
        "optimizer_graphs": graphs["optimizer"],
        "unique_graphs": counters["stats"]["unique_graphs"],
        "recompiles": dict(counters["recompiles"]),
    }


def check_bounded(stats):
    # The loss graph is compiled with dynamic batch/length dims from the
    # first step: one graph (two allowed) for three shapes, not one per shape.
    # The optimizer step does not depend on the data shapes.
    assert stats["loss_graphs"] <= 2, f"loss recompiled for new shapes ({len(SHAPES)} shapes): {stats}"
    assert stats["optimizer_graphs"] <= 3, f"optimizer step recompiled every step: {stats}"


@pytest.mark.parametrize(
    "backend,dtype",
    [("inductor", torch.float64), ("aot_eager", torch.float32)],
)
def test_compiled_pruned_training_matches_eager(backend, dtype):
    stats = run_training(pruned_loss_fn, backend, dtype)
    print(f"pruned training, {backend} {dtype}: {stats}")
    check_bounded(stats)


def test_compiled_full_loss_training_matches_eager():
    stats = run_training(full_loss_fn, "aot_eager", torch.float64)
    print(f"full-loss training, aot_eager float64: {stats}")
    check_bounded(stats)


def test_fake_gradients_have_the_kernels_strides():
    """Regression: the fake kernels gave px_grad/py_grad px/py's strides
    (empty_like), the kernels contiguous ones; inductor checks extern kernel
    strides, so a transposed px (as the losses build it) failed there."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    B, S, T = 2, 3, 4
    px = torch.randn(B, T + 1, S, dtype=torch.float64).transpose(1, 2)  # [B][S][T+1]
    py = torch.randn(B, T, S + 1, dtype=torch.float64).transpose(1, 2)  # [B][S+1][T]
    _, p = torch.ops.rnnt._mutual_information_forward(px, py, None)
    real = {
        "backward": torch.ops.rnnt._mutual_information_backward(px, py, None, p),
        "with_grad": torch.ops.rnnt.mutual_information_with_grad(px, py, None)[1:],
    }
    with FakeTensorMode() as mode:
        fpx, fpy, fp = (mode.from_tensor(t) for t in (px, py, p))
        fake = {
            "backward": torch.ops.rnnt._mutual_information_backward(fpx, fpy, None, fp),
            "with_grad": torch.ops.rnnt.mutual_information_with_grad(fpx, fpy, None)[1:],
        }
    for op, outs in real.items():
        for r, f in zip(outs, fake[op]):
            assert (f.shape, f.stride()) == (r.shape, r.stride()), op
