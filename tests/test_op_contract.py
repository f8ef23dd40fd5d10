"""The contract every public entry point of rnnt_ops keeps, checked over the
op table (op_table.py): its value against an independent float64
reference, its gradients, its fake kernel, and its behaviour on bad input:
an error that names the function and the argument, never a crash."""

import inspect
import re

import pytest
import torch

import rnnt_ops as R
from op_table import BY_NAME, NOT_OP_ENTRIES, NOT_OPS, TABLE, Problem, make_problem

ENTRIES = [info.name for info in TABLE]
VARIANTS = {
    "ragged": dict(boundary="ragged"),
    "full": dict(boundary="full"),
    "no_frames": dict(boundary="empty_frames"),
    "S=0": dict(S=0, boundary="full"),
    "int32": dict(index_dtype=torch.int32),
}


def samples(info, device="cpu", dtype=torch.float64, **problem):
    return info.samples(make_problem(device, dtype, **problem))


def tensor_args(kw):
    return [k for k, v in kw.items() if isinstance(v, torch.Tensor)]


def first_output(out):
    return out[0] if isinstance(out, tuple) else out


# ---- coverage -----------------------------------------------------------------

def test_every_public_name_has_an_entry():
    missing = [n for n in R.__all__ if n not in NOT_OPS and n not in BY_NAME]
    assert not missing, f"entry points without an op table entry: {missing}"


def test_every_public_op_has_an_entry():
    covered = {op for info in TABLE for op in info.ops} | NOT_OP_ENTRIES
    public = {n for n in torch._C._dispatch_get_all_op_names()
              if n.startswith("rnnt::") and not n.startswith("rnnt::_")}
    assert public - covered == set(), f"torch.ops.rnnt ops without an entry: {public - covered}"


def test_every_module_class_has_an_entry():
    from rnnt_ops import nemo

    classes = set()
    for prefix, namespace in (("", R), ("nemo.", nemo)):
        classes |= {prefix + n for n, v in vars(namespace).items()
                    if inspect.isclass(v) and issubclass(v, torch.nn.Module)
                    and v.__module__.startswith("rnnt_ops") and not n.startswith("_")}
    # nemo re-exports the TDT and multi-blank modules of the top level.
    classes = {c for c in classes if c.removeprefix("nemo.") not in BY_NAME}
    assert classes - set(BY_NAME) == set()


# ---- values and gradients -----------------------------------------------------

@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", ENTRIES)
def test_value_matches_the_float64_reference(name, variant, device):
    info = BY_NAME[name]
    for kw in samples(info, device, torch.float64, **VARIANTS[variant]):
        got = info.summary(info.call(**kw), kw).detach().cpu().double()
        want = info.reference({k: (v.cpu() if isinstance(v, torch.Tensor) else v)
                               for k, v in kw.items()})
        torch.testing.assert_close(got, want.detach().double(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ENTRIES)
def test_lower_precision_follows_the_float64_result(name, dtype, device):
    info = BY_NAME[name]
    if dtype not in info.dtypes:
        pytest.skip(f"{name} takes no {dtype}")
    tol = {torch.float32: 1e-4, torch.float16: 3e-2, torch.bfloat16: 1e-1}[dtype]
    for kw64, kw in zip(samples(info, device), samples(info, device, dtype)):
        want = info.summary(info.call(**kw64), kw64).double()
        got = info.summary(info.call(**kw), kw).double()
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", [n for n in ENTRIES if BY_NAME[n].grad_args])
def test_gradcheck(name, device):
    info = BY_NAME[name]
    kw = samples(info, device)[0]
    grads = info.grad_args

    def f(*xs):
        return info.summary(info.call(**dict(kw, **dict(zip(grads, xs)))), kw)

    inputs = [kw[g].detach().clone().requires_grad_() for g in grads]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", [n for n in ENTRIES if BY_NAME[n].grad_args])
def test_second_order_gradient(name, device):
    info = BY_NAME[name]
    kw = samples(info, device)[0]
    inputs = [kw[g].detach().clone().requires_grad_() for g in info.grad_args]
    out = info.summary(info.call(**dict(kw, **dict(zip(info.grad_args, inputs)))), kw)
    grads = torch.autograd.grad(out.sum(), inputs, create_graph=True, allow_unused=True)
    second = sum(g.pow(2).sum() for g in grads if g is not None and g.requires_grad)
    if info.differentiable_once:
        with pytest.raises(RuntimeError, match=rf"{info.errors()}.* is differentiable once"):
            second.backward()
        return

    def f(*xs):
        return info.summary(info.call(**dict(kw, **dict(zip(info.grad_args, xs)))), kw)

    assert torch.autograd.gradgradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def noncontiguous(t):
    """The same values in a non-contiguous layout."""
    if t.dim() == 0 or t.numel() == 0:
        return t
    wide = torch.stack([t, torch.zeros_like(t)], -1)
    return wide[..., 0]


@pytest.mark.parametrize("name", ENTRIES)
def test_noncontiguous_inputs_give_the_contiguous_result(name, device):
    info = BY_NAME[name]
    for kw in samples(info, device):
        want = info.summary(info.call(**kw), kw)
        strided = {k: noncontiguous(v) if isinstance(v, torch.Tensor) else v
                   for k, v in kw.items()}
        assert all(not v.is_contiguous() for v in strided.values()
                   if isinstance(v, torch.Tensor) and v.numel() > 1)
        # (a GEMM may sum in another order: float64 rounding apart)
        torch.testing.assert_close(info.summary(info.call(**strided), strided), want,
                                   rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", ENTRIES)
def test_fake_tensors_give_the_real_shapes(name):
    from torch._subclasses.fake_tensor import FakeTensorMode

    info = BY_NAME[name]
    if not info.traceable:
        pytest.skip(f"{name} reads values on the host")
    kw = samples(info)[0]
    real = info.call(**kw)
    with FakeTensorMode(allow_non_fake_inputs=False) as mode:
        fake_kw = {k: mode.from_tensor(v) if isinstance(v, torch.Tensor) else v
                   for k, v in kw.items()}
        fake = info.call(**fake_kw)
    flat_real, _ = torch.utils._pytree.tree_flatten(real)
    flat_fake, _ = torch.utils._pytree.tree_flatten(fake)
    assert [tuple(t.shape) for t in flat_fake] == [tuple(t.shape) for t in flat_real]
    assert [t.dtype for t in flat_fake] == [t.dtype for t in flat_real]


# ---- bad input ----------------------------------------------------------------

def device_cases():
    for name in ENTRIES:
        for arg in tensor_args(samples(BY_NAME[name])[0]):
            yield name, arg


@pytest.mark.parametrize("name,arg", list(device_cases()))
def test_a_tensor_on_another_device_is_an_error_naming_it(name, arg):
    info = BY_NAME[name]
    kw = samples(info)[0]
    kw[arg] = kw[arg].to("meta")
    with pytest.raises(RuntimeError, match=rf"{info.errors()}.*\b{arg}\b"):
        info.call(**kw)


def index_cases():
    for name in ENTRIES:
        for arg in BY_NAME[name].index_args:
            yield name, arg


@pytest.mark.parametrize("name,arg", list(index_cases()))
def test_an_index_out_of_range_is_a_value_error_naming_it(name, arg, device):
    info = BY_NAME[name]
    kw = samples(info, device)[0]
    kw[arg] = info.bad_index[arg](kw)
    with R.value_checks(True):
        with pytest.raises(ValueError, match=rf"{info.errors()}.*\b{arg}\b"):
            info.call(**kw)


@pytest.mark.parametrize("name,arg", list(index_cases()))
def test_an_unchecked_index_out_of_range_touches_no_memory_outside(name, arg, device):
    """With value checks off a bad index gives no clear error, but reads and
    writes nothing outside any tensor (under the AddressSanitizer build of
    .ci/sanitize a stray access fails the run); the call returns or raises."""
    info = BY_NAME[name]
    kw = samples(info, device)[0]
    kw[arg] = info.bad_index[arg](kw)
    grads = [g for g in info.grad_args if g in kw]
    for g in grads:
        kw[g] = kw[g].detach().clone().requires_grad_()
    with R.value_checks(False):
        try:
            out = first_output(info.call(**kw))
            if grads and out.requires_grad:
                out.sum().backward()
        except (RuntimeError, ValueError, IndexError):
            pass


# ---- other runtimes -------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in ENTRIES if BY_NAME[n].module is not None])
def test_module_scripts_saves_and_loads(name, tmp_path):
    info = BY_NAME[name]
    kw = samples(info)[0]
    path = tmp_path / "module.pt"
    torch.jit.save(torch.jit.script(info.module()), str(path))
    loaded = torch.jit.load(str(path))
    torch.testing.assert_close(loaded(**kw), info.module()(**kw), rtol=0, atol=0)
    bad = dict(kw)
    arg = info.index_args[0]
    bad[arg] = info.bad_index[arg](kw)
    with pytest.raises(Exception, match=rf"{info.errors()}.*\b{arg}\b"):
        loaded(**bad)


def op_cases():
    for name in ENTRIES:
        for op in BY_NAME[name].ops:
            yield name, op


@pytest.mark.parametrize("name,op", list(op_cases()))
def test_opcheck(name, op):
    info = BY_NAME[name]
    packet = getattr(torch.ops.rnnt, op.split("::")[1])
    schema = packet.default._schema
    names = [a.name for a in schema.arguments]
    for kw in samples(info):
        args = {k: v for k, v in kw.items() if k in names}
        torch.library.opcheck(packet.default, (), args,
                              test_utils=("test_schema", "test_faketensor"))


def compiled_cases():
    for name in ENTRIES:
        info = BY_NAME[name]
        if info.traceable and info.compiled_checks and info.index_args and info.module is None:
            yield name, info.index_args[0]


@pytest.mark.parametrize("name,arg", list(compiled_cases()))
def test_compiled_errors_name_the_function(name, arg):
    """Under torch.compile(fullgraph=True) a bad index raises when the graph
    runs, naming the function the user called and the argument."""
    info = BY_NAME[name]
    kw = samples(info)[0]
    kw[arg] = info.bad_index[arg](kw)
    torch._dynamo.reset()
    compiled = torch.compile(lambda kw: info.call(**kw), backend="aot_eager", fullgraph=True)
    with R.value_checks(True):
        with pytest.raises((RuntimeError, ValueError), match=rf"{info.errors()}.*\b{arg}\b"):
            compiled(kw)


def scripted_function_cases():
    for name in ENTRIES:
        info = BY_NAME[name]
        target = _public_function(name)
        if target is not None and info.index_args:
            yield name, info.index_args[0]


def _public_function(name):
    """The public function an entry calls (None for modules and wrappers)."""
    obj = R
    for part in name.split("."):
        obj = getattr(obj, part, None)
    return obj if inspect.isfunction(obj) else None


@pytest.mark.parametrize("name,arg", list(scripted_function_cases()))
def test_scripted_function_matches_and_names_itself(name, arg):
    """torch.jit.script of the public function gives the eager result, and a
    bad index raises naming the function and the argument."""
    info = BY_NAME[name]
    scripted = torch.jit.script(_public_function(name))
    kw = samples(info)[0]
    if name == "joint_mutual_information_recursion":
        kw = dict(kw, px=[kw["px"]], py=[kw["py"]])
        want = R.joint_mutual_information_recursion(**kw)
    else:
        want = info.call(**kw)
    torch.testing.assert_close(scripted(**kw), want, rtol=0, atol=0)
    bad = dict(kw)
    bad[arg] = info.bad_index[arg](samples(info)[0])
    with R.value_checks(True):
        with pytest.raises(Exception, match=rf"{info.errors()}.*\b{arg}\b"):
            scripted(**bad)
