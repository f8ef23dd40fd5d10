"""The dynamo exporter (``torch.onnx.export(..., dynamo=True)``, needs
onnxscript): the ``rnnt`` domain's ONNX op schemas and the translation table
of the rnnt ops and of the ATen ops torch's ONNX registry lacks."""

from typing import Callable, Sequence

import torch

from rnnt_ops.export.domain import DOMAIN, OPSET_VERSION, OUT_OF_RANGE_INDEX


def register_onnx_schemas() -> None:
    """Register the ``rnnt`` domain's op schemas with ``onnx.defs``
    (idempotent). The dynamo exporter (onnxscript) needs them to build the
    nodes; ``onnx.checker`` then also checks the nodes' arity and types."""
    import onnx.defs as defs

    P = defs.OpSchema.FormalParameter
    optional = defs.OpSchema.FormalParameterOption.Optional
    types = [("T", ["tensor(float)", "tensor(double)"], "float32 or float64")]
    inputs = [
        P("px", "T", "[B][S][T+1] (regular) or [B][S][T] (modified) log-probs "
          "of a symbol step"),
        P("py", "T", "[B][S+1][T] log-probs of a blank (frame) step"),
        P("boundary", "tensor(int64)",
          "optional [B][4] rows (s_begin, t_begin, s_end, t_end); default "
          "(0, 0, S, T)", param_option=optional),
    ]
    scores = P("scores", "T", "[B] total log-score p[s_end, t_end] per item")
    schemas = [
        defs.OpSchema(
            "MutualInformation", DOMAIN, OPSET_VERSION,
            "Log-space lattice recursion of pruned RNN-T (k2's "
            "mutual_information_recursion).",
            inputs=inputs, outputs=[scores], type_constraints=types,
        ),
        defs.OpSchema(
            "MutualInformationWithGrad", DOMAIN, OPSET_VERSION,
            "MutualInformation plus the gradients of sum(scores) w.r.t. px "
            "and py (arc occupation probabilities).",
            inputs=inputs,
            outputs=[
                scores,
                P("px_grad", "T", "gradient w.r.t. px, shaped like px"),
                P("py_grad", "T", "gradient w.r.t. py, shaped like py"),
            ],
            type_constraints=types,
        ),
    ]
    schemas.append(_duration_lattice_schema(defs, types))
    for schema in schemas:
        if not defs.has(schema.name, OPSET_VERSION, DOMAIN):
            defs.register_schema(schema)


def _duration_lattice_schema(defs, types):
    """rnnt::DurationLattice: rnnt::_duration_lattice, the lattice of the TDT
    and multi-blank losses (rnnt_ops/tdt.py)."""
    P = defs.OpSchema.FormalParameter
    optional = defs.OpSchema.FormalParameterOption.Optional
    return defs.OpSchema(
        "DurationLattice", DOMAIN, OPSET_VERSION,
        "Log-likelihood per item of the duration lattice of the TDT and "
        "multi-blank transducers (rnnt::_duration_lattice).",
        inputs=[
            P("logits", "T", "[B][T][S+1][C] label logits"),
            P("duration_logits", "T", "optional [B][T][S+1][D] duration "
              "logits (TDT)", param_option=optional),
            P("symbols", "tensor(int64)", "[B][S] symbols"),
            P("boundary", "tensor(int64)", "optional [B][4] rows (0, 0, U, "
              "T'); default (0, 0, S, T)", param_option=optional),
            P("sigma", "T", "optional one value subtracted from every label "
              "log-prob; default 0", param_option=optional),
        ],
        outputs=[P("scores", "T", "[B] log-likelihood per item, -inf "
                   "without a path")],
        type_constraints=types,
        attributes=[defs.OpSchema.Attribute(
            "arcs", defs.OpSchema.AttrType.INTS,
            "flat (label, duration, duration_index) triples of the arc "
            "kinds: label -1 is the next symbol, duration_index -1 no "
            "duration logit"),
            defs.OpSchema.Attribute(
                "label_logprobs", defs.OpSchema.AttrType.INT,
                "1: the label rows are log-probs already (the simple and "
                "pruned TDT losses), not normalised; default 0",
                required=False)],
    )


def custom_translation_table() -> dict[Callable, Callable]:
    """``custom_translation_table`` for ``torch.onnx.export(..., dynamo=True)``
    mapping the rnnt ops to ``rnnt``-domain nodes (needs onnxscript)."""
    register_onnx_schemas()
    from onnxscript import values

    rnnt_opset = values.Opset(DOMAIN, OPSET_VERSION)

    def mutual_information(px, py, boundary=None):
        if boundary is None:
            return rnnt_opset.MutualInformation(px, py)
        return rnnt_opset.MutualInformation(px, py, boundary)

    def mutual_information_with_grad(px, py, boundary=None):
        if boundary is None:
            return rnnt_opset.MutualInformationWithGrad(px, py)
        return rnnt_opset.MutualInformationWithGrad(
            px, py, boundary
        )

    table = {
        torch.ops.rnnt.mutual_information.default: mutual_information,
        torch.ops.rnnt.mutual_information_with_grad.default:
            mutual_information_with_grad,
    }
    if hasattr(torch.ops.rnnt, "_duration_lattice"):
        table[torch.ops.rnnt._duration_lattice.default] = (
            _duration_lattice_translation(rnnt_opset))
    if hasattr(torch.ops.rnnt, "_checked_index"):
        from onnxscript import opset18 as op

        def checked_index(index, size, name="", function=""):
            # Standard ONNX has no assertion: an index outside [0, size)
            # becomes OUT_OF_RANGE_INDEX, which the Gather/GatherElements/
            # ScatterElements that consume it reject at run time (a plain
            # negative index would silently wrap around instead).
            bad = op.Or(op.Less(index, 0), op.GreaterOrEqual(index, size))
            return op.Where(bad, OUT_OF_RANGE_INDEX, index)

        table[torch.ops.rnnt._checked_index.default] = checked_index
        # Pruning (get_rnnt_prune_ranges) needs cummin, which torch's ONNX
        # registry lacks.
        table[torch.ops.aten.cummin.default] = _cummin_translation
        # do_rnnt_pruning multiplies by a symbolic size (S+1), which torch's
        # aten::mul.Scalar translation only accepts as a Python number.
        table[torch.ops.aten.mul.Scalar] = _mul_scalar_translation
    if hasattr(torch.ops.rnnt, "_joiner_logprobs"):
        table[torch.ops.rnnt._joiner_logprobs.default] = _joiner_logprobs_translation
    # The exporter turns Python scalars (loss scales, the smoothed loss's
    # 1 - lm_only_scale - am_only_scale, DBL_MIN guards) into
    # aten::scalar_tensor; onnxscript's translation goes through a float32
    # constant, which would round them (0.55 -> 0.550000011920929, and
    # DBL_MIN -> 0) in float64 models.
    table[torch.ops.aten.scalar_tensor.default] = _scalar_tensor_translation
    return table


def _duration_lattice_translation(rnnt_opset) -> Callable:
    """rnnt::_duration_lattice -> rnnt::DurationLattice. fastemit_lambda
    only scales the gradient, not the scores: it is dropped. sigma becomes a
    double constant cast to the logits' dtype (a float attribute would round
    it to float32 in float64 models)."""

    def duration_lattice(logits, duration_logits, symbols, arcs: Sequence[int],
                         boundary=None, sigma: float = 0.0,
                         fastemit_lambda: float = 0.0, label_logprobs: bool = False):
        import onnx_ir as ir
        from onnxscript import opset18 as op

        inputs = [logits, duration_logits, symbols, boundary]
        if sigma != 0.0:
            inputs.append(op.CastLike(
                op.Constant(value=ir.tensor(float(sigma), dtype=ir.DataType.DOUBLE)),
                logits))
        while inputs[-1] is None:
            inputs.pop()
        if label_logprobs:
            return rnnt_opset.DurationLattice(*inputs, arcs=[int(a) for a in arcs],
                                              label_logprobs=1)
        return rnnt_opset.DurationLattice(*inputs, arcs=[int(a) for a in arcs])

    return duration_lattice


def _scalar_tensor_translation(s: float, dtype: int = -1, layout: str = "",
                               device: str = "", pin_memory: bool = False):
    """aten::scalar_tensor with the scalar converted to ``dtype`` exactly
    (torch's rounding), not through float32. The annotations make the
    exporter pass a Python scalar as is (torch 2.8's exporter turns an
    unannotated one into a float32 Constant first)."""
    import onnx_ir as ir
    from onnxscript import opset18 as op

    if dtype is None or dtype == -1:
        dtype = ir.DataType.FLOAT
    dtype = ir.DataType(dtype)
    if isinstance(s, (bool, int, float)):
        return op.Constant(value=ir.tensor(s, dtype=dtype))
    return op.Cast(s, to=dtype)


def _joiner_logprobs_translation(logits, symbol_index, termination_symbol: int, inplace_grad: bool = False):
    """rnnt::_joiner_logprobs in standard ONNX: per row of logits [..., C],
    (logits[sym] - lse, logits[blank] - lse, lse) with lse the row's
    ReduceLogSumExp (ONNX Runtime computes it in one pass as well)."""
    from onnxscript import opset18 as op

    log_norm = op.ReduceLogSumExp(logits, [-1], keepdims=0)
    symbol = op.Squeeze(op.GatherElements(logits, op.Unsqueeze(symbol_index, [-1]), axis=-1), [-1])
    blank = op.Gather(logits, termination_symbol, axis=-1)
    return op.Sub(symbol, log_norm), op.Sub(blank, log_norm), log_norm


def _mul_scalar_translation(self, other):
    """aten::mul.Scalar that also takes a symbolic (traced) scalar."""
    if isinstance(other, (bool, int, float)):
        from onnxscript.function_libs.torch_lib.ops.core import aten_mul_scalar

        return aten_mul_scalar(self, other)
    from onnxscript import opset18 as op

    return op.Mul(self, op.CastLike(other, self))


def _cummin_translation(x, dim: int):
    """aten::cummin(x, dim) -> (values, indices) in standard ONNX, as a
    masked reduction over an [n][n] (frame, earlier frame) grid: O(n^2) work
    and memory along ``dim`` (n = number of frames for the prune ranges)."""
    from onnxscript import opset18 as op

    rank = len(x.shape)
    dim = dim % rank if rank else 0
    n = op.Gather(op.Shape(x), dim, axis=0)
    idx = op.Range(0, n, 1)  # [n]
    # earlier[t, u] = u <= t, broadcast to x's dims after `dim`.
    earlier = op.LessOrEqual(op.Unsqueeze(idx, [0]), op.Unsqueeze(idx, [1]))
    trailing = list(range(2, 2 + rank - 1 - dim))
    if trailing:
        earlier = op.Unsqueeze(earlier, trailing)
    x_u = op.Unsqueeze(x, [dim])      # x[u] along axis dim + 1
    x_t = op.Unsqueeze(x, [dim + 1])  # x[t] along axis dim
    # Later frames (u > t) stand in as x[t] itself: the minimum is unchanged
    # and no dtype-specific +inf is needed.
    values = op.ReduceMin(op.Where(earlier, x_u, x_t), [dim + 1], keepdims=0)
    # Index: the last u <= t holding the minimum (torch's tie rule).
    hit = op.And(earlier, op.Equal(x_u, op.Unsqueeze(values, [dim + 1])))
    u_index = idx
    if rank - 1 - dim:
        u_index = op.Unsqueeze(idx, list(range(1, 1 + rank - 1 - dim)))
    indices = op.ReduceMax(op.Where(hit, u_index, -1), [dim + 1], keepdims=0)
    return values, indices

