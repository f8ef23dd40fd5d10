"""Every code block of the user documentation runs as written
(docs_blocks.py says how each kind of block is run and how a block asks
for stand-ins or is excused)."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import rnnt_ops
from docs_blocks import DOCUMENTS, ROOT, all_blocks, blocks
from docs_standins import STANDINS

MODES = {"default", "run", "standins", "cuda", "skip"}


def test_every_block_has_a_known_mode():
    for block in all_blocks():
        assert block.mode in MODES, f"{block.id}: unknown marker 'test: {block.mode}'"
        if block.mode == "skip":
            assert block.argument, f"{block.id}: a skipped block says why"
        if block.mode == "standins":
            sets = CPP_STANDINS if block.language == "cpp" else STANDINS
            assert block.argument in sets, f"{block.id}: no stand-in set {block.argument!r}"


def python_documents():
    return [d for d in DOCUMENTS if any(b.language == "python" for b in blocks(d))]


@pytest.mark.parametrize("document", python_documents())
def test_python_blocks_run(document, tmp_path, monkeypatch):
    """The document's Python blocks, in order, in one namespace (in a
    scratch directory: examples write files)."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for block in blocks(document):
        if block.language != "python" or block.mode == "skip":
            continue
        # A file of its own, so that TorchScript (inspect.getsource) finds it.
        path = tmp_path / f"{block.document.replace('/', '_')}_{block.line}.py"
        path.write_text(block.source)
        code = compile(block.source, str(path), "exec")
        if block.mode == "cuda" and not torch.cuda.is_available():
            continue
        if block.mode == "standins":
            namespace.update(STANDINS[block.argument]())
        try:
            exec(code, namespace)
        except Exception as error:
            raise AssertionError(f"{block.id} raised {type(error).__name__}: {error}") from error


def shell_blocks():
    return [b for b in all_blocks() if b.language in ("bash", "sh")]


@pytest.mark.parametrize("block", shell_blocks(), ids=lambda b: b.id)
def test_shell_blocks_parse(block):
    result = subprocess.run(["bash", "-n"], input=block.source, text=True, capture_output=True)
    assert result.returncode == 0, f"{block.id}: {result.stderr}"


@pytest.mark.parametrize("block", [b for b in shell_blocks() if b.mode == "run"],
                         ids=lambda b: b.id)
def test_cheap_shell_blocks_run(block):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.source], cwd=ROOT, env=env,
                            text=True, capture_output=True)
    assert result.returncode == 0, f"{block.id}:\n{result.stdout}\n{result.stderr}"


# The C++ blocks are compiled into one library, each into a function that
# first defines the names of its stand-in set, and each is called with the op
# library loaded: typed<...>() checks its signature against the op's schema.
CPP_STANDINS = {
    "pruned": """
        const int64_t B = 2, T = 4, S = 2, C = 5, R = 2;
        at::Tensor logits = at::randn({B, T, R, C}, at::kDouble);
        at::Tensor symbols = at::randint(1, C, {B, S}, at::kLong);
        at::Tensor ranges = at::arange(R).view({1, 1, R}).expand({B, T, R}).contiguous();
        at::Tensor boundary = at::tensor({0, 0, 1, 4, 0, 0, 1, 3}, at::kLong).view({B, 4});
    """,
    "simple": """
        const int64_t B = 2, T = 4, S = 2, C = 5;
        at::Tensor lm = at::randn({B, S + 1, C}, at::kDouble);
        at::Tensor am = at::randn({B, T, C}, at::kDouble);
        at::Tensor symbols = at::randint(1, C, {B, S}, at::kLong);
        at::Tensor boundary = at::tensor({0, 0, 2, 4, 0, 0, 1, 3}, at::kLong).view({B, 4});
    """,
    "tdt": """
        const int64_t B = 2, T = 4, S = 2, C = 5;
        at::Tensor logits = at::randn({B, T, S + 1, C}, at::kDouble);
        at::Tensor duration_logits = at::randn({B, T, S + 1, 5}, at::kDouble);
        at::Tensor symbols = at::randint(1, C, {B, S}, at::kLong);
        at::Tensor boundary = at::tensor({0, 0, 2, 4, 0, 0, 1, 3}, at::kLong).view({B, 4});
    """,
}


def cpp_blocks():
    return [b for b in all_blocks() if b.language == "cpp"]


def test_every_cpp_block_names_its_standins():
    for block in cpp_blocks():
        assert block.mode == "standins" and block.argument in CPP_STANDINS, (
            f"{block.id}: a C++ block needs <!-- test: standins NAME --> with NAME one of "
            f"{sorted(CPP_STANDINS)}")


@pytest.fixture(scope="module")
def cpp_library(tmp_path_factory):
    from torch.utils import cpp_extension

    functions = []
    for i, block in enumerate(cpp_blocks()):
        functions.append(textwrap.dedent(f"""
            extern "C" int docs_block_{i}(char* message, int size) {{
              try {{
                {textwrap.indent(textwrap.dedent(CPP_STANDINS[block.argument]), '    ')}
                {{
            {textwrap.indent(block.source, '    ')}
                }}
                return 0;
              }} catch (const std::exception& e) {{
                std::snprintf(message, size, "%s", e.what());
                return 1;
              }}
            }}"""))
    source = "\n".join(["#include <ATen/ATen.h>", "#include <ATen/core/dispatch/Dispatcher.h>",
                        "#include <cstdio>", "#include <optional>", "#include <tuple>",
                        "#include <vector>"] + functions)
    directory = tmp_path_factory.mktemp("docs_cpp")
    (directory / "docs_blocks.cpp").write_text(source)
    cpp_extension.load(name="docs_blocks", sources=[str(directory / "docs_blocks.cpp")],
                       build_directory=str(directory), is_python_module=False,
                       extra_cflags=["-O0"])
    import ctypes

    return ctypes.CDLL(str(directory / "docs_blocks.so"))


@pytest.mark.parametrize("index,block", list(enumerate(cpp_blocks())),
                         ids=lambda v: v.id if hasattr(v, "id") else str(v))
def test_cpp_blocks_compile_and_run(cpp_library, index, block):
    import ctypes

    message = ctypes.create_string_buffer(4096)
    status = getattr(cpp_library, f"docs_block_{index}")(message, len(message))
    assert status == 0, f"{block.id}: {message.value.decode()}"
    assert rnnt_ops.library_path().exists()


def test_readme_figures_are_the_current_ones_in_results():
    """Every measured figure of the README's Performance section (a number
    with a decimal point, or of four or more digits) is quoted from
    bench/RESULTS.md."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Performance"):readme.index("## Documentation")]
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    figures = re.findall(r"(?<![\w.])(\d+\.\d+(?:e-?\d+)?|\d{4,})(?![\w.])", section)
    figures = [f for f in figures if f not in ("2.11.0", "0.5")]
    assert figures
    missing = [f for f in figures if f not in results]
    assert not missing, f"README figures not in bench/RESULTS.md: {missing}"
