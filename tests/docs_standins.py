"""Stand-ins for the names that documentation examples use without defining
them (a model's parts, a batch): ``STANDINS[name]()`` returns the names of
one set, small and valid, with the shapes the example's comments give.
A block asks for a set with ``<!-- test: standins NAME -->`` (docs_blocks.py).
"""

from typing import Dict

import torch
from torch import nn

import rnnt_ops
from standin import StandInTransducer

B, T, S, C, D, HIDDEN = 2, 6, 3, 7, 5, 8


def _batch(seed: int = 0) -> Dict[str, object]:
    g = torch.Generator().manual_seed(seed)
    # 1 .. C - 4: the blank is 0 or C - 1, big blanks C - 2 and C - 3.
    symbols = torch.randint(1, C - 3, (B, S), generator=g)
    boundary = torch.tensor([[0, 0, S, T], [0, 0, S - 1, T - 2]])
    return dict(torch=torch, rnnt_ops=rnnt_ops, B=B, T=T, S=S, C=C, symbols=symbols,
                boundary=boundary, blank=0, generator=g)


def transducer() -> Dict[str, object]:
    """The k2-style pruned step: encoder/decoder outputs, the simple-loss
    projections and a joiner (tests/standin.py's model)."""
    names = _batch()
    model = StandInTransducer(features=4, vocab=C, dim=HIDDEN)
    features = torch.randn(B, T, 4, generator=names["generator"])
    encoder_out, decoder_out = model.encode(features, names["symbols"])
    names.update(
        encoder_out=encoder_out, decoder_out=decoder_out,
        simple_lm_proj=model.simple_lm_proj, simple_am_proj=model.simple_am_proj,
        joiner_encoder_proj=model.joiner_encoder_proj,
        joiner_decoder_proj=model.joiner_decoder_proj, joiner=model.joiner)
    return names


def padded() -> Dict[str, object]:
    """torchaudio's padded batch: logits, targets and the two lengths."""
    names = _batch()
    g = names["generator"]
    names.update(
        logits=torch.randn(B, T, S + 1, C, generator=g, requires_grad=True),
        targets=names["symbols"].int(), logit_lengths=torch.tensor([T, T - 2]).int(),
        target_lengths=torch.tensor([S, S - 1]).int())
    return names


def tdt() -> Dict[str, object]:
    """NeMo's padded batch (acts with the D duration logits last) and the
    same lattice as k2-style tensors; the blank is C - 1."""
    names = _batch()
    g = names["generator"]
    acts = torch.randn(B, T, S + 1, C + D, generator=g, requires_grad=True)
    names.update(
        acts=acts, labels=names["symbols"], act_lens=torch.tensor([T, T - 2]),
        label_lens=torch.tensor([S, S - 1]), logits=acts[..., :C],
        duration_logits=acts[..., C:], blank=C - 1)
    return names


def fused() -> Dict[str, object]:
    """The joiner's projected encoder and decoder outputs and its output layer."""
    names = _batch()
    g = names["generator"]
    names.update(am=torch.randn(B, T, HIDDEN, generator=g, requires_grad=True),
                 lm=torch.randn(B, S + 1, HIDDEN, generator=g, requires_grad=True),
                 joiner=nn.Linear(HIDDEN, C))
    return names


def pruned_tdt() -> Dict[str, object]:
    """Hidden encoder/decoder outputs with label+duration heads and a joiner."""
    names = fused()
    durations = [0, 1, 2, 3, 4]
    names.update(durations=durations, am_head=nn.Linear(HIDDEN, C + len(durations)),
                 lm_head=nn.Linear(HIDDEN, C + len(durations)),
                 joiner=nn.Linear(HIDDEN, C + len(durations)))
    return names


def pruned() -> Dict[str, object]:
    """A pruned loss's inputs: windows of 2 from the simple loss, and the
    joiner's logits in them."""
    names = _batch()
    g = names["generator"]
    lm, am = torch.randn(B, S + 1, C, generator=g), torch.randn(B, T, C, generator=g)
    _, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
        lm, am, names["symbols"], 0, names["boundary"], return_grad=True)
    ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, names["boundary"], 2)
    names.update(ranges=ranges, logits=torch.randn(B, T, 2, C, generator=g, requires_grad=True))
    return names


def script() -> Dict[str, object]:
    """What a process that runs a saved TorchScript model has: the library's path."""
    return dict(torch=torch, lib_path=str(rnnt_ops.library_path()))


def compiled() -> Dict[str, object]:
    """A model, its loss function, an optimizer and two batches of features."""
    names = transducer()
    model = StandInTransducer(features=4, vocab=C, dim=HIDDEN)
    g = names["generator"]

    def loss_fn(model, features, symbols, boundary):
        encoder_out, decoder_out = model.encode(features, symbols)
        return rnnt_ops.rnnt_loss_simple(
            model.simple_lm_proj(decoder_out), model.simple_am_proj(encoder_out), symbols, 0,
            boundary, reduction="sum")

    batches = [(torch.randn(B, T, 4, generator=g), names["symbols"], names["boundary"])
               for _ in range(2)]
    names.update(model=model, loss_fn=loss_fn, batches=batches,
                 optimizer=torch.optim.SGD(model.parameters(), lr=0.01))
    return names


def onnx_model() -> Dict[str, object]:
    """A loss module to export, and its inputs."""
    names = _batch()
    g = names["generator"]

    class Model(nn.Module):
        def forward(self, logits, symbols, boundary):
            return rnnt_ops.rnnt_loss(logits, symbols, 0, boundary, reduction="none")

    names.update(model=Model(), logits=torch.randn(B, T, S + 1, C, generator=g))
    return names


STANDINS = {
    "transducer": transducer, "padded": padded, "tdt": tdt, "fused": fused,
    "pruned_tdt": pruned_tdt, "pruned": pruned, "script": script, "compiled": compiled,
    "onnx": onnx_model,
}
