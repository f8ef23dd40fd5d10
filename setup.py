"""rnnt_ops: the C++/CUDA ops are built just in time on first import
(rnnt_ops/_build.py); installing only ships the Python package and the C++
sources as package data."""

import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (ROOT / "rnnt_ops" / "_version.py").read_text()
).group(1)


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
    version=VERSION,
    description="Fast, memory-efficient pruned RNN-T (transducer) losses as PyTorch custom ops",
    long_description=(ROOT / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Intended Audience :: Developers",
        "Intended Audience :: Science/Research",
        "Environment :: GPU :: NVIDIA CUDA",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: C++",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    keywords=["rnn-t", "transducer", "asr", "loss", "pytorch", "k2", "torchaudio"],
    packages=find_packages(include=["rnnt_ops", "rnnt_ops.*"]),
    python_requires=">=3.9",
    install_requires=["torch>=2.7", "ninja"],
    extras_require={
        "test": ["pytest", "hypothesis", "onnx", "onnxruntime", "onnxscript"],
        "bench": ["matplotlib"],
    },
    cmdclass={"build_py": BuildPyWithSources},
)
