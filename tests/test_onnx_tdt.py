"""ONNX export of the TDT and multi-blank losses (both PyTorch exporters) and
their ONNX Runtime node rnnt::DurationLattice (export/ort/duration_lattice_ort.cc),
checked against PyTorch (and, for the bare lattice, against the float64
reference of tests/duration_reference.py).

As tests/test_onnx.py (whose export helpers this uses): the ORT tests skip
without onnx/onnxruntime, or when the ORT headers cannot be fetched, unless
RNNT_OPS_REQUIRE_ORT=1 (CI), which makes the latter a failure.
"""

import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import rnnt_ops  # noqa: E402
from duration_reference import (  # noqa: E402
    multiblank_arc_kinds, reference_scores, tdt_arc_kinds)
from test_onnx import (  # noqa: E402,F401  (ort_library: the shared fixture)
    EXPORTERS, TOL, _export, _feeds, _session, ort_library)

D_MODEL = 8
DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
# The export sizes (B, S, T), then (dynamo: dynamic axes) other batch sizes
# and lengths.
EXPORT_SIZES = (2, 3, 5)
OTHER_SIZES = [(4, 5, 9), (3, 4, 4)]


def _ragged_boundary(B, S, T, g):
    """Rows (0, 0, U_b, T_b): item 0 the whole lattice, the others shorter."""
    rows = [[0, 0, S, T]]
    for _ in range(B - 1):
        rows.append([0, 0, int(torch.randint(0, S + 1, (1,), generator=g)),
                     int(torch.randint(1, T + 1, (1,), generator=g))])
    return torch.tensor(rows, dtype=torch.int64)


def _joiner_inputs(B, S, T, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    am = torch.randn(B, T, D_MODEL, generator=g, dtype=dtype)
    lm = torch.randn(B, S + 1, D_MODEL, generator=g, dtype=dtype)
    return g, am, lm


class Joiner(torch.nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.linear = torch.nn.Linear(D_MODEL, n_out)

    def forward(self, am, lm):
        return self.linear(torch.tanh(am.unsqueeze(2) + lm.unsqueeze(1)))


# TDT: C classes, blank 0.
TDT_C = 6


class TDTLoss(torch.nn.Module):
    """A joiner with label and duration heads, then rnnt_loss_tdt."""

    def __init__(self, durations, **options):
        super().__init__()
        self.durations = list(durations)
        self.options = options
        self.joiner = Joiner(TDT_C + len(durations))

    def forward(self, am, lm, symbols, boundary):
        out = self.joiner(am, lm)
        return rnnt_ops.rnnt_loss_tdt(out[..., :TDT_C], out[..., TDT_C:], symbols, 0,
                                      self.durations, boundary, **self.options)


def _tdt_inputs(B, S, T, dtype, seed):
    g, am, lm = _joiner_inputs(B, S, T, dtype, seed)
    symbols = torch.randint(1, TDT_C, (B, S), generator=g)
    return am, lm, symbols, _ragged_boundary(B, S, T, g)


# Multi-blank in NeMo's layout: the standard blank last, big blanks of
# durations 2 and 4 just below it, symbols below those.
MB_C, MB_DURATIONS = 7, [2, 4]
MB_BLANK, MB_BIG_IDS = MB_C - 1, [MB_C - 2, MB_C - 3]


class MultiBlankLoss(torch.nn.Module):
    def __init__(self, with_boundary=True, **options):
        super().__init__()
        self.with_boundary = with_boundary
        self.options = options
        self.joiner = Joiner(MB_C)

    def forward(self, am, lm, symbols, boundary):
        return rnnt_ops.rnnt_loss_multiblank(
            self.joiner(am, lm), symbols, MB_BLANK, MB_BIG_IDS, MB_DURATIONS,
            boundary if self.with_boundary else None, **self.options)


def _mb_inputs(B, S, T, dtype, seed):
    g, am, lm = _joiner_inputs(B, S, T, dtype, seed)
    symbols = torch.randint(0, MB_C - 1 - len(MB_DURATIONS), (B, S), generator=g)
    return am, lm, symbols, _ragged_boundary(B, S, T, g)


class NemoModule(torch.nn.Module):
    """A joiner, then NeMo's interface: rnnt_ops.TDTLoss or
    rnnt_ops.MultiBlankRNNTLoss on (acts, labels, act_lens, label_lens)."""

    def __init__(self, loss, n_out):
        super().__init__()
        self.loss = loss
        self.joiner = Joiner(n_out)

    def forward(self, am, lm, labels, act_lens, label_lens):
        return self.loss(self.joiner(am, lm), labels, act_lens, label_lens)


def _nemo_inputs(B, S, T, dtype, seed, n_symbols):
    g, am, lm = _joiner_inputs(B, S, T, dtype, seed)
    labels = torch.randint(0, n_symbols, (B, S), generator=g)
    boundary = _ragged_boundary(B, S, T, g)
    label_lens = boundary[:, 2].clamp(min=1)  # NeMo's 'mean' divides by it
    return am, lm, labels, boundary[:, 3].clone(), label_lens


LOSS_NAMES = ["am", "lm", "symbols", "boundary"]
LOSS_DYNAMIC = {"am": {0: "B", 1: "T"}, "lm": {0: "B", 1: "S+1"},
                "symbols": {0: "B", 1: "S"}, "boundary": {0: "B"}}
NEMO_NAMES = ["am", "lm", "labels", "act_lens", "label_lens"]
NEMO_DYNAMIC = {"am": {0: "B", 1: "T"}, "lm": {0: "B", 1: "S+1"},
                "labels": {0: "B", 1: "S"}, "act_lens": {0: "B"}, "label_lens": {0: "B"}}


def _compare(got, want, dtype):
    """Max |ORT - torch| and the same relative to max(1, max |torch|), with
    equal infinities (items without a path) excluded."""
    got = torch.from_numpy(got)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert torch.equal(torch.isinf(got), torch.isinf(want)), (got, want)
    assert torch.equal(got[torch.isinf(got)], want[torch.isinf(want)])
    finite = torch.isfinite(want)
    assert torch.isfinite(got[finite]).all()
    if not finite.any():
        return 0.0, 0.0
    diff = float((got - want)[finite].abs().max())
    return diff, diff / max(1.0, float(want[finite].abs().max()))


def check_loss_export(module, make_inputs, names, dynamic, exporter, dtype, ort_library,
                      report=None):
    """Export module, run it in ORT on the export sizes (new values) and,
    for dynamo, on other batch sizes and lengths; compare with eager
    PyTorch. Returns the rnnt node types of the graph; report (a dict)
    receives max_abs and max_rel."""
    module = module.to(dtype).eval()
    model_bytes = _export(module, make_inputs(*EXPORT_SIZES, dtype, 0), names, ["loss"],
                          exporter, dynamic)
    model = onnx.load_from_string(model_bytes)
    onnx.checker.check_model(model, full_check=True)
    ops = [(n.domain, n.op_type) for n in model.graph.node]
    assert all(d in ("", "rnnt") for d, _ in ops), ops
    session = _session(model_bytes, ort_library)
    # An input the loss does not read (boundary=None) is not in the graph.
    graph_inputs = {i.name for i in session.get_inputs()}
    # The TorchScript tracer bakes the composite losses' sizes into the
    # graph (docs/export.md): only the export sizes are valid there.
    sizes = [EXPORT_SIZES] + (OTHER_SIZES if exporter == "dynamo" else [])
    max_abs = max_rel = 0.0
    for seed, (B, S, T) in enumerate(sizes):
        tensors = make_inputs(B, S, T, dtype, seed + 1)
        feeds = {n: v for n, v in _feeds(names, tensors).items() if n in graph_inputs}
        (got,) = session.run(None, feeds)
        with torch.no_grad():
            want = module(*tensors)
        diff, rel = _compare(got, want, dtype)
        max_abs, max_rel = max(max_abs, diff), max(max_rel, rel)
    assert max_rel <= TOL[dtype], max_rel
    if report is not None:
        report.update(max_abs=max_abs, max_rel=max_rel)
    return {t for d, t in ops if d == "rnnt"}


TDT_CASES = {
    "nemo_default": ([0, 1, 2, 3, 4], {}),
    "no_zero_sigma": ([1, 2, 4], {"sigma": 0.05}),
    # Blanks of duration 2 only: items with an odd T_b have no path (inf).
    "zero_two": ([0, 2], {}),
    "unordered_omega_sigma": ([2, 0, 1], {"sigma": 0.1, "omega": 0.4}),
    "fastemit": ([0, 1, 2, 3], {"fastemit_lambda": 0.01}),
    "sum_zero_infinity": ([0, 2, 3], {"reduction": "sum", "zero_infinity": True}),
    "mean": ([0, 1, 2], {"reduction": "mean", "omega": 0.25}),
}


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("case", list(TDT_CASES))
@DTYPES
def test_tdt_loss_exports(ort_library, exporter, case, dtype):
    durations, options = TDT_CASES[case]
    options = {"reduction": "none", **options}
    custom = check_loss_export(TDTLoss(durations, **options), _tdt_inputs, LOSS_NAMES,
                               LOSS_DYNAMIC, exporter, dtype, ort_library)
    # omega mixes in the regular RNN-T loss: the lattice recursion node.
    expected = {"DurationLattice"} | ({"MutualInformation"} if options.get("omega") else set())
    assert custom == expected


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_tdt_loss_exports_int32_indices(ort_library, exporter):
    """int32 symbols and boundary (the losses accept them) export too."""

    def inputs(B, S, T, dtype, seed):
        am, lm, symbols, boundary = _tdt_inputs(B, S, T, dtype, seed)
        return am, lm, symbols.int(), boundary.int()

    custom = check_loss_export(TDTLoss([0, 1, 2], reduction="none", omega=0.5), inputs,
                               LOSS_NAMES, LOSS_DYNAMIC, exporter, torch.float64, ort_library)
    assert custom == {"DurationLattice", "MutualInformation"}


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_tdt_loss_with_omega_exports_padding_symbols(ort_library, exporter):
    """Symbols past an item's U_b are padding (here -1): never read nor
    checked, in the TDT lattice and in omega's RNN-T term alike, in ONNX
    Runtime as in PyTorch."""

    def inputs(B, S, T, dtype, seed):
        am, lm, symbols, boundary = _tdt_inputs(B, S, T, dtype, seed)
        past_end = torch.arange(S).view(1, S) >= boundary[:, 2:3]
        return am, lm, symbols.masked_fill(past_end, -1), boundary

    assert (inputs(*EXPORT_SIZES, torch.float64, 1)[2] == -1).any()
    custom = check_loss_export(TDTLoss([0, 1, 2], reduction="none", omega=0.5), inputs,
                               LOSS_NAMES, LOSS_DYNAMIC, exporter, torch.float64, ort_library)
    assert custom == {"DurationLattice", "MutualInformation"}


MB_CASES = {
    "boundary": {"reduction": "none"},
    "sigma_sum": {"reduction": "sum", "sigma": 0.05, "zero_infinity": True},
    "no_boundary_mean": {"reduction": "mean", "with_boundary": False},
}


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("case", list(MB_CASES))
@DTYPES
def test_multiblank_loss_exports(ort_library, exporter, case, dtype):
    custom = check_loss_export(MultiBlankLoss(**MB_CASES[case]), _mb_inputs, LOSS_NAMES,
                               LOSS_DYNAMIC, exporter, dtype, ort_library)
    assert custom == {"DurationLattice"}


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("kind", ["tdt", "multiblank"])
@DTYPES
def test_nemo_modules_export(ort_library, exporter, kind, dtype):
    """rnnt_ops.TDTLoss / MultiBlankRNNTLoss on NeMo's inputs (blank last,
    duration logits last, lengths instead of a boundary)."""
    if kind == "tdt":
        V, durations = 5, [0, 1, 2, 4]
        loss = rnnt_ops.TDTLoss(blank_idx=V, durations=durations, reduction="mean",
                                sigma=0.02)
        n_out, n_symbols = V + 1 + len(durations), V
    else:
        loss = rnnt_ops.MultiBlankRNNTLoss(blank_idx=MB_BLANK, big_blank_durations=MB_DURATIONS,
                                           reduction="none")
        n_out, n_symbols = MB_C, MB_C - 1 - len(MB_DURATIONS)

    def inputs(B, S, T, dtype, seed):
        return _nemo_inputs(B, S, T, dtype, seed, n_symbols)

    custom = check_loss_export(NemoModule(loss, n_out), inputs, NEMO_NAMES, NEMO_DYNAMIC,
                               exporter, dtype, ort_library)
    assert custom == {"DurationLattice"}


class PrunedTDTLoss(torch.nn.Module):
    """The pruned TDT losses in a graph: windows from rnnt_loss_simple's
    occupations (the TDT simple loss's return_grad does not export), then
    rnnt_loss_tdt_simple and rnnt_loss_tdt_pruned (the lattice's
    label_logprobs mode) per item."""

    def __init__(self, durations, **options):
        super().__init__()
        self.durations, self.options = list(durations), options
        D = len(self.durations)
        self.simple_am = torch.nn.Linear(D_MODEL, TDT_C + D)
        self.simple_lm = torch.nn.Linear(D_MODEL, TDT_C + D)
        self.joiner = torch.nn.Linear(D_MODEL, TDT_C + D)

    def forward(self, am, lm, symbols, boundary):
        a, l = self.simple_am(am), self.simple_lm(lm)
        _, (px_grad, py_grad) = rnnt_ops.rnnt_loss_simple(
            l[..., :TDT_C], a[..., :TDT_C], symbols, 0, boundary, return_grad=True)
        simple = rnnt_ops.rnnt_loss_tdt_simple(
            l[..., :TDT_C], a[..., :TDT_C], l[..., TDT_C:], a[..., TDT_C:], symbols, 0,
            self.durations, boundary, reduction="none", **self.options)
        ranges = rnnt_ops.get_rnnt_prune_ranges(px_grad, py_grad, boundary, 2)
        am_p, lm_p = rnnt_ops.do_rnnt_pruning(am, lm, ranges)
        out = self.joiner(torch.tanh(am_p + lm_p))
        pruned = rnnt_ops.rnnt_loss_tdt_pruned(
            out[..., :TDT_C], out[..., TDT_C:], symbols, ranges, 0, self.durations, boundary,
            reduction="none", **self.options)
        return pruned + 0.5 * simple


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("options", [{}, {"sigma": 0.05, "omega": 0.3}], ids=["plain", "omega"])
@DTYPES
def test_pruned_tdt_losses_export(ort_library, exporter, options, dtype):
    def inputs(B, S, T, dtype, seed):
        # T_b >= U_b: s_range 2 keeps a path (an exported graph cannot
        # raise s_range from the boundary's values as eager does).
        am, lm, symbols, boundary = _tdt_inputs(B, S, T, dtype, seed)
        boundary[:, 3] = torch.maximum(boundary[:, 3], boundary[:, 2]).clamp(max=T)
        boundary[:, 2] = torch.minimum(boundary[:, 2], boundary[:, 3])
        return am, lm, symbols, boundary

    custom = check_loss_export(PrunedTDTLoss([0, 1, 2], **options), inputs, LOSS_NAMES,
                               LOSS_DYNAMIC, exporter, dtype, ort_library)
    expected = {"DurationLattice", "MutualInformationWithGrad"}
    assert custom == expected | ({"MutualInformation"} if options.get("omega") else set())


def _flat_arcs(kinds):
    """duration_reference's arc kinds as rnnt::_duration_lattice's arcs."""
    return [v for label, d, i in kinds for v in (-1 if label is None else label, d,
                                                 -1 if i is None else i)]


class LogitsTDTLoss(torch.nn.Module):
    def __init__(self, durations, sigma):
        super().__init__()
        self.durations, self.sigma = durations, sigma

    def forward(self, logits, duration_logits, symbols, boundary):
        return rnnt_ops.rnnt_loss_tdt(logits, duration_logits, symbols, 0, self.durations,
                                      boundary, sigma=self.sigma, reduction="none")


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_exported_tdt_matches_reference(ort_library, exporter):
    """The exported TDT loss in ORT against the independent float64 DP, on
    lattices with C = 40 classes (longer normaliser sums than the loss
    tests) and large logits."""
    durations, sigma = [0, 1, 3], 0.3
    kinds = tdt_arc_kinds(0, durations)
    module = LogitsTDTLoss(durations, sigma)
    names = ["logits", "duration_logits", "symbols", "boundary"]
    dynamic = {"logits": {0: "B", 1: "T", 2: "S+1"},
               "duration_logits": {0: "B", 1: "T", 2: "S+1"},
               "symbols": {0: "B", 1: "S"}, "boundary": {0: "B"}}

    def inputs(B, S, T, seed):
        g = torch.Generator().manual_seed(seed)
        x = 5 * torch.randn(B, T, S + 1, 40, generator=g, dtype=torch.float64)
        z = torch.randn(B, T, S + 1, len(durations), generator=g, dtype=torch.float64)
        y = torch.randint(1, 40, (B, S), generator=g)
        return x, z, y, _ragged_boundary(B, S, T, g)

    model_bytes = _export(module, inputs(*EXPORT_SIZES, 0), names, ["loss"], exporter, dynamic)
    session = _session(model_bytes, ort_library)
    sizes = [EXPORT_SIZES] + (OTHER_SIZES if exporter == "dynamo" else [])
    for seed, (B, S, T) in enumerate(sizes):
        tensors = inputs(B, S, T, seed + 1)
        (got,) = session.run(None, _feeds(names, tensors))
        want = -reference_scores(*tensors[:3], kinds, tensors[3], sigma=sigma).detach()
        assert _compare(got, want, torch.float64)[0] <= 1e-10
        assert _compare(got, module(*tensors), torch.float64)[0] <= 1e-10


def _node_model(arcs, elem_type, with_z=True):
    from onnx import TensorProto, helper

    inputs = ["logits", "duration_logits" if with_z else "", "symbols", "boundary"]
    node = helper.make_node("DurationLattice", inputs, ["scores"], domain="rnnt", arcs=arcs)
    value_infos = [helper.make_tensor_value_info("logits", elem_type, None),
                   helper.make_tensor_value_info("symbols", TensorProto.INT64, None),
                   helper.make_tensor_value_info("boundary", TensorProto.INT64, None)]
    if with_z:
        value_infos.insert(1, helper.make_tensor_value_info("duration_logits", elem_type, None))
    graph = helper.make_graph([node], "g", value_infos,
                              [helper.make_tensor_value_info("scores", elem_type, None)])
    # IR version 8: see tests/test_onnx.py's _graph_model.
    return helper.make_model(graph, ir_version=8, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("rnnt", 1)])


def test_ort_lattice_rejects_bad_inputs(ort_library):
    """Invalid shapes, boundaries, symbols and arcs come back as ORT
    INVALID_ARGUMENT errors naming the problem, not crashes."""
    from onnx import TensorProto

    arcs = _flat_arcs(multiblank_arc_kinds(5, [4], [2]))
    session = _session(_node_model(arcs, TensorProto.FLOAT, with_z=False).SerializeToString(),
                       ort_library)
    names = ["logits", "symbols", "boundary"]
    x = torch.randn(2, 5, 4, 6)
    y = torch.tensor([[0, 1, 2], [3, 2, 1]])
    good = torch.tensor([[0, 0, 3, 5], [0, 0, 2, 4]])
    session.run(None, _feeds(names, (x, y, good)))
    cases = [
        ((x, y, torch.tensor([[0, 0, 4, 5], [0, 0, 2, 4]])),
         "boundary[0] = (0, 0, 4, 5) must be (0, 0, U, T') with 0 <= U <= S = 3"),
        ((x, y, torch.tensor([[0, 0, 3, 5], [1, 0, 2, 4]])), "boundary[1] = (1, 0, 2, 4)"),
        ((x, y, torch.tensor([[0, 0, 3, 6], [0, 0, 2, 4]])), "0 <= T' <= T = 5"),
        ((x, y, good[:1]), "boundary must be [B][4] = [2, 4]"),
        ((x, torch.tensor([[0, 1, 5], [3, 2, 1]]), good),
         "symbols[0][2] = 5 is a blank (the termination symbol or a big blank)"),
        ((x, torch.tensor([[0, 1, 2], [3, 4, 1]]), good), "symbols[1][1] = 4 is a blank"),
        ((x, torch.tensor([[0, 1, 2], [-1, 2, 1]]), good), "symbols[1][0] = -1 must be in [0, C = 6)"),
        ((x, y[:, :2], good), "symbols must be [B][S] = [2, 3]"),
        ((x[0], y, good), "logits must be [B][T][S+1][C]"),
        ((x[..., :5], y, good), "arc label must be -1 (next symbol) or in [0, C = 5), got 5"),
    ]
    for tensors, message in cases:
        with pytest.raises(Exception, match="INVALID_ARGUMENT") as info:
            session.run(None, _feeds(names, tensors))
        assert message in str(info.value), str(info.value)
    # A symbol past U_b is never read (as in PyTorch).
    session.run(None, _feeds(names, (x, torch.tensor([[0, 1, 2], [3, 2, 5]]), good)))

    tdt = _session(_node_model(_flat_arcs(tdt_arc_kinds(0, [0, 1])), TensorProto.DOUBLE)
                   .SerializeToString(), ort_library)
    names = ["logits", "duration_logits", "symbols", "boundary"]
    x, y = x.double(), y + 1
    with pytest.raises(Exception, match="INVALID_ARGUMENT") as info:
        tdt.run(None, _feeds(names, (x, torch.randn(2, 5, 3, 2, dtype=torch.float64), y, good)))
    assert "duration_logits must be [B][T][S+1][D] = [2, 5, 4, D]" in str(info.value)
    with pytest.raises(Exception, match="INVALID_ARGUMENT") as info:
        tdt.run(None, _feeds(names, (x, torch.randn(2, 5, 4, 1, dtype=torch.float64), y, good)))
    assert "arc duration_index must be in [-1, D = 1), got 1" in str(info.value)


@pytest.mark.parametrize("arcs,message", [
    ([0, 1], "arcs must be a non-empty list of (label, duration, duration_index) triples"),
    ([0, 0, -1, -1, 0, -1], "arc duration must be >= 0 (>= 1 for a blank), got 0"),
    ([0, 1, -1, -2, 0, -1], "arc label must be -1 (next symbol) or a class id >= 0, got -2"),
    ([0, 1, -1, -1, -1, -1], "arc duration must be >= 0 (>= 1 for a blank), got -1"),
])
def test_ort_lattice_rejects_bad_arcs(ort_library, arcs, message):
    """Checked when ORT creates the kernel: the session fails to load (ORT
    reports kernel creation errors as RUNTIME_EXCEPTION)."""
    from onnx import TensorProto

    model = _node_model(arcs, TensorProto.FLOAT, with_z=False).SerializeToString()
    with pytest.raises(Exception, match="rnnt.DurationLattice") as info:
        _session(model, ort_library)
    assert message in str(info.value), str(info.value)


def test_duration_lattice_schema_registered():
    from rnnt_ops import export as rnnt_export

    rnnt_export.register_onnx_schemas()
    schema = onnx.defs.get_schema("DurationLattice", 1, "rnnt")
    assert [i.name for i in schema.inputs] == [
        "logits", "duration_logits", "symbols", "boundary", "sigma"]
    assert [o.name for o in schema.outputs] == ["scores"]
    assert "arcs" in schema.attributes
