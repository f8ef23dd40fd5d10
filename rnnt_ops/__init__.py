"""rnnt_ops: fast, memory-efficient RNN-T (transducer) losses for PyTorch.

Importing the package builds (once) and loads the C++/CUDA op library, which
registers the ``torch.ops.rnnt.*`` operators.
"""

import sys

from rnnt_ops._build import build_cli_requested, library_path, load_library

if build_cli_requested():  # `python -m rnnt_ops.build`: its options decide what to build
    from rnnt_ops.build import main

    sys.exit(main())
load_library()

from rnnt_ops import _fake  # noqa: E402,F401  (registers fake kernels)
from rnnt_ops import _fake_tdt  # noqa: E402,F401
from rnnt_ops import functional  # noqa: E402
from rnnt_ops._build import with_cuda  # noqa: E402
from rnnt_ops._version import __version__  # noqa: E402
from rnnt_ops.functional import RNNTLoss  # noqa: E402
from rnnt_ops.lengths import boundary_from_lengths  # noqa: E402
from rnnt_ops.fused import (  # noqa: E402
    rnnt_loss_fused,
    rnnt_loss_pruned_fused,
    rnnt_loss_tdt_fused,
)
from rnnt_ops.mutual_information import (  # noqa: E402
    joint_mutual_information_recursion,
    mutual_information_recursion,
)
from rnnt_ops.rnnt_loss import (  # noqa: E402
    do_rnnt_pruning,
    get_rnnt_logprobs,
    get_rnnt_logprobs_joint,
    get_rnnt_logprobs_pruned,
    get_rnnt_logprobs_smoothed,
    get_rnnt_prune_ranges,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)
from rnnt_ops.tdt import (  # noqa: E402
    MultiBlankRNNTLoss,
    TDTLoss,
    rnnt_loss_multiblank,
    rnnt_loss_tdt,
    rnnt_loss_tdt_pruned,
    rnnt_loss_tdt_simple,
)
from rnnt_ops.value_checks import (  # noqa: E402
    set_value_checks,
    value_checks,
    value_checks_enabled,
)

__all__ = [
    "MultiBlankRNNTLoss",
    "RNNTLoss",
    "TDTLoss",
    "__version__",
    "boundary_from_lengths",
    "do_rnnt_pruning",
    "functional",
    "get_rnnt_logprobs",
    "get_rnnt_logprobs_joint",
    "get_rnnt_logprobs_pruned",
    "get_rnnt_logprobs_smoothed",
    "get_rnnt_prune_ranges",
    "joint_mutual_information_recursion",
    "library_path",
    "load_library",
    "mutual_information_recursion",
    "rnnt_loss",
    "rnnt_loss_fused",
    "rnnt_loss_multiblank",
    "rnnt_loss_pruned",
    "rnnt_loss_pruned_fused",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
    "rnnt_loss_tdt",
    "rnnt_loss_tdt_fused",
    "rnnt_loss_tdt_pruned",
    "rnnt_loss_tdt_simple",
    "set_value_checks",
    "value_checks",
    "value_checks_enabled",
    "with_cuda",
]
