"""The JIT build: cached, keyed, safe under concurrent first imports."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rnnt_ops
from build_copies import copy_build

SNIPPET = (
    "import torch, rnnt_ops;"
    "s = rnnt_ops.mutual_information_recursion(torch.zeros(1, 2, 4), torch.zeros(1, 3, 3));"
    "print(float(s))"
)


def run_python(code: str, cache: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, RNNT_OPS_BUILD_DIR=str(cache))
    return subprocess.Popen(
        [sys.executable, *args] if not code else [sys.executable, "-c", code],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_concurrent_first_imports_then_cached(tmp_path):
    """Two first imports at once build once; the next import loads the
    build. The cache starts from a copy of this session's build without its
    library and marker, so the build is ninja linking the object files."""
    directory = copy_build(tmp_path)
    (directory / "rnnt_ops_C.so").unlink()
    (directory / "build.done").unlink()
    first = [run_python(SNIPPET, tmp_path) for _ in range(2)]
    outputs = [p.communicate() for p in first]
    for proc, (out, err) in zip(first, outputs):
        assert proc.returncode == 0, err
        # 3 frames x 2 symbols, all arcs log-prob 0: log C(5, 2) = log 10
        assert abs(float(out) - 2.302585) < 1e-5, out
    builds = sum("building" in err for _, err in outputs)
    assert builds == 1, f"expected exactly one build, stderr: {outputs}"

    again = run_python(SNIPPET, tmp_path)
    out, err = again.communicate()
    assert again.returncode == 0 and "building" not in err, err

    built = run_python("", tmp_path, "-m", "rnnt_ops.build")
    out, err = built.communicate()
    assert Path(out.strip()) == directory / "rnnt_ops_C.so" and "building" not in err, (out, err)


def test_build_dir_is_keyed_by_torch_version_and_sources():
    import torch

    directory = rnnt_ops._build.build_dir()
    assert torch.__version__.replace("+", "_") in directory.name
    assert rnnt_ops.library_path().parent == directory


def test_rnnt_ops_cuda_0_builds_cpu_kernels_only(monkeypatch):
    from rnnt_ops import _build

    monkeypatch.setenv("RNNT_OPS_CUDA", "0")
    assert _build.cuda_enabled() is False
    assert _build.build_dir().name.split("-")[1] == "cpu"
    assert not any(path.suffix == ".cu" for path in _build._sources(_build.source_root())[0])


def test_cuda_arch_list(monkeypatch):
    import torch

    from rnnt_ops import _build

    monkeypatch.setattr(_build, "cuda_enabled", lambda: False)
    assert _build.cuda_arch_list() is None
    monkeypatch.setattr(_build, "cuda_enabled", lambda: True)
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
    assert _build.cuda_arch_list() == "8.0;9.0"
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST")
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        assert f"{major}.{minor}" in _build.cuda_arch_list().split(";")
    else:  # no GPU to ask: what torch was built for (nothing on a CPU torch)
        assert _build.cuda_arch_list() == _build.torch_arch_list()
        if torch.version.cuda is None:
            assert _build.torch_arch_list() is None


def test_torch_arch_list_format(monkeypatch):
    import torch

    from rnnt_ops import _build

    monkeypatch.setattr(torch._C, "_cuda_getArchFlags", lambda: "sm_75 sm_90a sm_100 compute_120", raising=False)
    assert _build.torch_arch_list() == "7.5;9.0a;10.0"


def test_with_cuda_says_whether_the_library_has_cuda_kernels():
    import torch

    from rnnt_ops import _build

    assert rnnt_ops.with_cuda() is _build.cuda_enabled()
    if rnnt_ops.with_cuda() and torch.cuda.is_available():
        px, py = torch.zeros(1, 1, 3, device="cuda"), torch.zeros(1, 2, 2, device="cuda")
        assert rnnt_ops.mutual_information_recursion(px, py).device.type == "cuda"


def test_unwritable_home_says_what_to_do(tmp_path):
    """HOME is a file (so ~/.cache cannot be made, even as root) and no
    RNNT_OPS_BUILD_DIR: the import fails with a message naming the
    directory, RNNT_OPS_BUILD_DIR and `python -m rnnt_ops.build`."""
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "RNNT_OPS_BUILD_DIR"}
    env["HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-c", "import rnnt_ops"], env=env, capture_output=True, text=True
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnt_ops._build.BuildDirectoryError: rnnt_ops: the C++ op library"), proc.stderr
    for words in (str(home / ".cache" / "rnnt_ops"), "RNNT_OPS_BUILD_DIR", "python -m rnnt_ops.build"):
        assert words in last, proc.stderr
    assert "building" not in proc.stderr


def test_build_cli_help_and_print_path_do_not_build(tmp_path):
    help_run = run_python("", tmp_path, "-m", "rnnt_ops.build", "--help")
    out, err = help_run.communicate()
    assert help_run.returncode == 0, err
    for option in ("--cuda", "--no-cuda", "--print-path", "RNNT_OPS_BUILD_DIR", "Dockerfile", "TORCH_CUDA_ARCH_LIST"):
        assert option in out, out
    path_run = run_python("", tmp_path, "-m", "rnnt_ops.build", "--no-cuda", "--print-path")
    out, err = path_run.communicate()
    assert path_run.returncode == 0, err
    path = Path(out.strip())
    assert path.parent.parent == tmp_path and "-cpu-" in path.parent.name, out
    assert not tmp_path.exists() or not any(tmp_path.iterdir()), "nothing may be built"
    assert "building" not in err


def test_build_cli_cuda_without_cuda_is_an_error(tmp_path):
    import torch

    if torch.version.cuda is not None:
        pytest.skip("a CUDA torch may build the CUDA kernels: nothing to refuse")
    proc = run_python("", tmp_path, "-m", "rnnt_ops.build", "--cuda")
    out, err = proc.communicate()
    assert proc.returncode == 2 and "--cuda needs a CUDA build of torch" in err, (out, err)


def test_version_matches_the_installed_metadata():
    from importlib.metadata import version

    assert rnnt_ops.__version__ == version("rnnt_ops")


def test_the_build_uses_its_precompiled_header():
    """This session's build compiled every C++ file with -include rnnt_pch.h,
    and the rnnt_pch.h.gch beside it matches those flags: GCC's -H marks a
    used precompiled header with '!' (an unusable one with 'x', when GCC
    silently parses the headers instead)."""
    import shlex

    from rnnt_ops import _build, _pch

    if not _pch._is_gcc(_pch._compiler()) or os.environ.get("RNNT_OPS_PCH") == "0":
        pytest.skip("the precompiled header is made with GCC only, unless RNNT_OPS_PCH=0")
    if _build._installed():
        pytest.skip("an installed package deletes its precompiled header after the build")
    directory = rnnt_ops.library_path().parent
    line = next(x for x in (directory / "build.ninja").read_text().splitlines() if x.startswith("cflags = "))
    flags = shlex.split(line[len("cflags = "):])
    # Relative to the build directory, where ninja runs the compiler.
    header = _pch.HEADER_NAME
    assert ["-include", header] == flags[flags.index("-include") : flags.index("-include") + 2]
    proc = subprocess.run(
        [_pch._compiler(), *flags, "-H", "-fsyntax-only", "-x", "c++", "-"],
        input="int main() { return 0; }\n", capture_output=True, text=True, cwd=directory,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"! ./{header}.gch" in proc.stderr.splitlines(), proc.stderr[:2000]
