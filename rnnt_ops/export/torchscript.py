"""ONNX symbolics of the rnnt ops for the TorchScript exporter
(``torch.onnx.export(..., dynamo=False)``): the recursion becomes ``rnnt``
domain nodes, the other ops standard ONNX."""

import torch

from rnnt_ops.export.domain import DOMAIN, OUT_OF_RANGE_INDEX


def _symbolic_helper():
    """The TorchScript exporter's symbolic_helper module: under
    torch.onnx._internal.torchscript_exporter in current torch,
    torch.onnx.symbolic_helper in torch 2.8 and older."""
    try:
        from torch.onnx._internal.torchscript_exporter import symbolic_helper
    except ModuleNotFoundError:
        from torch.onnx import symbolic_helper
    return symbolic_helper


def _recursion_node(g, onnx_name: str, n_outputs: int, px, py, boundary):
    symbolic_helper = _symbolic_helper()

    inputs = [px, py]
    if not symbolic_helper._is_none(boundary):
        inputs.append(boundary)
    outs = g.op(f"{DOMAIN}::{onnx_name}", *inputs, outputs=n_outputs)
    outs = list(outs) if n_outputs > 1 else [outs]
    # Output types for the exporter's shape inference: scores [B], gradients
    # shaped like px and py, all of px's dtype.
    px_type, py_type = px.type(), py.type()
    sizes = px_type.varyingSizes() if hasattr(px_type, "varyingSizes") else None
    batch = sizes[0] if sizes else None
    outs[0].setType(px_type.with_sizes([batch]))
    if n_outputs == 3:
        outs[1].setType(px_type)
        outs[2].setType(py_type)
    return outs[0] if n_outputs == 1 else tuple(outs)


def _mutual_information_symbolic(g, px, py, boundary=None):
    return _recursion_node(g, "MutualInformation", 1, px, py, boundary)


def _mutual_information_with_grad_symbolic(g, px, py, boundary=None):
    return _recursion_node(g, "MutualInformationWithGrad", 3, px, py, boundary)


def _duration_lattice_symbolic(g, logits, duration_logits, symbols, arcs,
                               boundary=None, sigma=None, fastemit_lambda=None,
                               label_logprobs=None):
    """rnnt::_duration_lattice -> rnnt::DurationLattice (see
    dynamo._duration_lattice_translation)."""
    symbolic_helper = _symbolic_helper()

    def given(value):
        return value is not None and not symbolic_helper._is_none(value)

    arcs = symbolic_helper._get_const(arcs, "is", "arcs")
    sigma = symbolic_helper._get_const(sigma, "f", "sigma") if given(sigma) else 0.0
    missing = symbolic_helper._optional_input_placeholder_tensor(g)
    inputs = [logits, duration_logits if given(duration_logits) else missing,
              symbols, boundary if given(boundary) else missing]
    if sigma != 0.0:
        dtype = logits.type().dtype()
        # The logits' dtype rounds sigma as the kernels do (static_cast).
        inputs.append(g.op("Constant", value_t=torch.tensor(sigma, dtype=dtype)))
    while inputs[-1] is missing:
        inputs.pop()
    attributes = {"arcs_i": list(arcs)}
    if given(label_logprobs) and symbolic_helper._get_const(label_logprobs, "b", "label_logprobs"):
        attributes["label_logprobs_i"] = 1
    out = g.op(f"{DOMAIN}::DurationLattice", *inputs, **attributes)
    logits_type = logits.type()
    sizes = logits_type.varyingSizes() if hasattr(logits_type, "varyingSizes") else None
    out.setType(logits_type.with_sizes([sizes[0] if sizes else None]))
    return out


def _int64(g, value):
    return g.op("Constant", value_t=torch.tensor(value, dtype=torch.int64))


def _checked_index_symbolic(g, index, size, name=None, function=None):
    """rnnt::_checked_index: see dynamo.custom_translation_table."""
    size = g.op("Cast", size, to_i=7)  # int64
    bad = g.op("Or", g.op("Less", index, _int64(g, 0)),
               g.op("GreaterOrEqual", index, size))
    return g.op("Where", bad, _int64(g, OUT_OF_RANGE_INDEX), index)


def _cummin_symbolic(g, x, dim):
    """aten::cummin for the TorchScript exporter (op set >= 18): see
    _cummin_translation."""
    symbolic_helper = _symbolic_helper()

    dim = symbolic_helper._get_const(dim, "i", "dim")
    rank = symbolic_helper._get_tensor_rank(x)
    if rank is None:
        raise torch.onnx.errors.SymbolicValueError(
            "rnnt_ops: cummin needs an input of known rank", x)
    dim = dim % rank if rank else 0
    n = g.op("Gather", g.op("Shape", x), _int64(g, dim), axis_i=0)
    idx = g.op("Range", _int64(g, 0), n, _int64(g, 1))
    earlier = g.op("LessOrEqual", g.op("Unsqueeze", idx, _int64(g, [0])),
                   g.op("Unsqueeze", idx, _int64(g, [1])))
    trailing = rank - 1 - dim
    if trailing:
        earlier = g.op("Unsqueeze", earlier,
                       _int64(g, list(range(2, 2 + trailing))))
    x_u = g.op("Unsqueeze", x, _int64(g, [dim]))
    x_t = g.op("Unsqueeze", x, _int64(g, [dim + 1]))
    values = g.op("ReduceMin", g.op("Where", earlier, x_u, x_t),
                  _int64(g, [dim + 1]), keepdims_i=0)
    hit = g.op("And", earlier, g.op(
        "Equal", x_u, g.op("Unsqueeze", values, _int64(g, [dim + 1]))))
    u_index = idx
    if trailing:
        u_index = g.op("Unsqueeze", idx, _int64(g, list(range(1, 1 + trailing))))
    indices = g.op("ReduceMax", g.op("Where", hit, u_index, _int64(g, -1)),
                   _int64(g, [dim + 1]), keepdims_i=0)
    return values, indices


def _joiner_logprobs_symbolic(g, logits, symbol_index, termination_symbol, inplace_grad=None):
    """rnnt::_joiner_logprobs (the fused joiner log-probs) in standard ONNX
    (op set >= 18): see dynamo._joiner_logprobs_translation."""
    symbolic_helper = _symbolic_helper()

    blank = symbolic_helper._get_const(termination_symbol, "i", "termination_symbol")
    last = _int64(g, [-1])
    log_norm = g.op("ReduceLogSumExp", logits, last, keepdims_i=0)
    symbol = g.op("Squeeze", g.op("GatherElements", logits,
                                  g.op("Unsqueeze", symbol_index, last), axis_i=-1), last)
    blank_logit = g.op("Gather", logits, _int64(g, blank), axis_i=-1)
    return g.op("Sub", symbol, log_norm), g.op("Sub", blank_logit, log_norm), log_norm


def composite_rnnt_ops() -> list:
    """The rnnt ops implemented as CompositeImplicitAutograd (the losses,
    px/py constructions, pruning): compositions of ATen ops and the
    recursion."""
    ops = []
    for full_name in sorted(torch._C._dispatch_get_all_op_names()):
        if not full_name.startswith(f"{DOMAIN}::"):
            continue
        name, _, overload = full_name[len(DOMAIN) + 2:].partition(".")
        op = getattr(getattr(torch.ops.rnnt, name), overload or "default")
        if op.has_kernel_for_dispatch_key(
                torch._C.DispatchKey.CompositeImplicitAutograd):
            ops.append(op)
    return ops


_tracer_library = None


def _register_tracer_decompositions() -> None:
    """Make the TorchScript tracer record the decomposition of our
    CompositeImplicitAutograd ops, as it does for ATen's, instead of one
    opaque node (the tracer's fallback for custom ops): a kernel at the
    Tracer key that runs the composite kernel with tracing still on."""
    global _tracer_library
    if _tracer_library is not None:
        return
    library = torch.library.Library(DOMAIN, "IMPL")
    for op in composite_rnnt_ops():
        def decompose(*args, _op=op, **kwargs):
            return _op.decompose(*args, **kwargs)

        name = op.name().split("::", 1)[1]
        if op._overloadname != "default":
            name = f"{name}.{op._overloadname}"
        library.impl(name, decompose, "Tracer")
    _tracer_library = library


_torchscript_registered = False


def register_torchscript_symbolics() -> None:
    """Register the ONNX symbolics of the rnnt ops for
    ``torch.onnx.export(..., dynamo=False)`` (idempotent).

    Also makes the TorchScript tracer (``torch.jit.trace``, in this process)
    record the decomposition of the composite rnnt ops (losses, pruning), so
    that only the recursion becomes ``rnnt`` nodes, and adds symbolics for
    ``rnnt::_checked_index`` and ``aten::cummin`` (op set >= 18)."""
    global _torchscript_registered
    if _torchscript_registered:
        return
    torch.onnx.register_custom_op_symbolic(
        "rnnt::mutual_information", _mutual_information_symbolic, 1
    )
    torch.onnx.register_custom_op_symbolic(
        "rnnt::mutual_information_with_grad",
        _mutual_information_with_grad_symbolic,
        1,
    )
    if hasattr(torch.ops.rnnt, "_duration_lattice"):
        torch.onnx.register_custom_op_symbolic(
            "rnnt::_duration_lattice", _duration_lattice_symbolic, 1)
    if hasattr(torch.ops.rnnt, "_checked_index"):
        torch.onnx.register_custom_op_symbolic(
            "rnnt::_checked_index", _checked_index_symbolic, 1)
        torch.onnx.register_custom_op_symbolic(
            "aten::cummin", _cummin_symbolic, 18)
    if hasattr(torch.ops.rnnt, "_joiner_logprobs"):
        torch.onnx.register_custom_op_symbolic(
            "rnnt::_joiner_logprobs", _joiner_logprobs_symbolic, 18)
    _register_tracer_decompositions()
    _torchscript_registered = True
