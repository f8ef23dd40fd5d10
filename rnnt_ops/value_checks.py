"""The switch for the checks that read index and boundary values.

By default every op checks that symbols and ranges lie in range and that each
``boundary`` row lies inside the lattice, with an error that names the
argument. Those checks read the values on the host: on CUDA each one is a
device-to-host copy that waits for the GPU, so the host can no longer queue
the step's kernels ahead of it. The ops remember what passed, so a pruned
training step on a new batch reads once, and that read is queued early and
waited for at the end of the simple loss (docs/value_checks.md). Once the
data pipeline is trusted, a trainer can switch the checks off: bad values
then raise no clear error, but still read and write nothing outside any
tensor (boxes are clamped into the lattice, gathers and the fused joiner
check their indices on the device). Shape, dtype and device
checks always run. The setting is process-wide, also seen by TorchScript and
C++ callers (``rnnt::set_value_checks``); change it outside compiled regions.
"""

import contextlib
from typing import Iterator

import torch


def set_value_checks(enabled: bool) -> bool:
    """Switch the value checks on (``enabled=True``, the default) or off,
    process-wide; returns the previous setting (bool)."""
    return torch.ops.rnnt.set_value_checks(bool(enabled))


def value_checks_enabled() -> bool:
    """Whether the ops check index and boundary values (bool; True by default)."""
    return torch.ops.rnnt.value_checks_enabled()


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Context manager: ``with value_checks(False): ...`` runs the block with
    the value checks switched to ``enabled`` (bool), then restores the
    previous setting, also when the block raises."""
    previous = set_value_checks(enabled)
    try:
        yield
    finally:
        set_value_checks(previous)
