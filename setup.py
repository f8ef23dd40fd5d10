"""rnnt_ops: the C++/CUDA ops are built just in time on first import
(rnnt_ops/_build.py); installing only ships the Python package and the C++
sources as package data."""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithSources(build_py):
    """Copy csrc/ (and export/ort/, the ONNX Runtime custom-op library) into
    the package, so an installed copy can build the ops."""

    def run(self):
        super().run()
        package = Path(self.build_lib) / "rnnt_ops"
        for source, target in (("csrc", "csrc"), ("export/ort", "ort_src")):
            shutil.copytree(
                ROOT / source, package / target, dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("*.o", "*.so", "__pycache__"),
            )


setup(
    name="rnnt_ops",
    version="0.1.0",
    description="Fast, memory-efficient pruned RNN-T (transducer) losses as PyTorch custom ops",
    long_description=(ROOT / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["rnnt_ops", "rnnt_ops.*"]),
    python_requires=">=3.9",
    install_requires=["torch>=2.7", "ninja"],
    extras_require={
        "test": ["pytest", "hypothesis", "onnx", "onnxruntime", "onnxscript"],
        "bench": ["matplotlib"],
    },
    cmdclass={"build_py": BuildPyWithSources},
)
