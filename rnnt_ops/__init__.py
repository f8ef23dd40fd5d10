"""rnnt_ops: fast, memory-efficient RNN-T (transducer) losses for PyTorch.

Importing the package builds (once) and loads the C++/CUDA op library, which
registers the ``torch.ops.rnnt.*`` operators.
"""

from rnnt_ops._build import library_path, load_library

load_library()

from rnnt_ops import _fake  # noqa: E402,F401  (registers fake kernels)
from rnnt_ops.mutual_information import mutual_information_recursion  # noqa: E402

__all__ = [
    "library_path",
    "load_library",
    "mutual_information_recursion",
]
