"""Utterance lengths for the standard transducer-loss benchmark.

The public benchmark batches real LibriSpeech train-clean-100 lengths: rows
(T, U) with T = frames after 4x subsampling and U = BPE-500 token count,
taken in order in consecutive groups of 30. Those lengths are not part of
this repository; ``load_shapes`` reads them from a JSON file
``{"TU": [[T, U], ...], ...}`` given by the user (``--shapes PATH``).

Without the file, ``standin_shapes`` draws a documented stand-in:
T ~ normal(mean 317, s.d. 95), rounded and clipped to [45, 474];
U = round(0.215 * T + normal(0, 8)), clipped to [7, 120]; seeded
(``random.Random(seed)``), so every run sees the same lengths.
"""

import json
import math
import random
from pathlib import Path
from typing import List, Optional, Tuple

Shape = Tuple[int, int]  # (T, U)

# The LibriSpeech lengths file of the standard benchmark (bench/data/, in
# the repository), relative to the repository root, and as a path.
DEFAULT_SHAPES = "bench/data/librispeech_shapes.json"
DEFAULT_SHAPES_PATH = Path(__file__).resolve().parents[1] / DEFAULT_SHAPES

STANDIN = (
    "stand-in lengths: T ~ normal(317, 95) clipped to [45, 474], "
    "U = round(0.215*T + normal(0, 8)) clipped to [7, 120], seed {seed}"
)


def load_shapes(path) -> Optional[List[Shape]]:
    """The (T, U) rows of a shapes JSON file, or None when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())["TU"]
    shapes = [(int(t), int(u)) for t, u in rows]
    if not shapes or any(t < 1 or u < 0 for t, u in shapes):
        raise ValueError(f"{path}: expected a non-empty list of [T >= 1, U >= 0] rows under 'TU'")
    return shapes


def standin_shapes(n: int, seed: int = 0) -> List[Shape]:
    """``n`` (T, U) rows from the stand-in distribution (module docstring)."""
    rng = random.Random(seed)
    shapes = []
    for _ in range(n):
        t = min(max(round(rng.gauss(317.0, 95.0)), 45), 474)
        u = min(max(round(0.215 * t + rng.gauss(0.0, 8.0)), 7), 120)
        shapes.append((t, u))
    return shapes


def get_shapes(path, n: int = 1800, seed: int = 0) -> Tuple[List[Shape], str]:
    """(rows, description): the file's rows when it exists, else ``n`` stand-in rows."""
    shapes = load_shapes(path)
    if shapes is not None:
        return shapes, f"lengths from {path} ({len(shapes)} rows)"
    return standin_shapes(n, seed), STANDIN.format(seed=seed)


def batches(shapes: List[Shape], batch_size: int) -> List[List[Shape]]:
    """Consecutive groups of ``batch_size`` rows, in order (a short tail is dropped)."""
    return [shapes[i:i + batch_size] for i in range(0, len(shapes) - batch_size + 1, batch_size)]


def scale_lengths(shapes: List[Shape], factor: float) -> List[Shape]:
    """Every T and U divided by ``factor``, rounded up (so T stays >= 1)."""
    return [(math.ceil(t / factor), math.ceil(u / factor)) for t, u in shapes]
