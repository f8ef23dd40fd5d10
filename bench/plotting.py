"""PNG plots of the transducer-loss benchmark (matplotlib, the ``bench``
extra); every function returns the written path, or None when matplotlib is
not installed."""

from pathlib import Path
from typing import Dict, List, Optional


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_standard(path: Path, title: str, rows: List[dict]) -> Optional[Path]:
    """Bars of median step time and peak memory per implementation.
    rows: {"label", "ms", "mib"} (skipped implementations left out)."""
    plt = _pyplot()
    if plt is None or not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    names = [r["label"] for r in rows]
    for ax, key, ylabel in ((axes[0], "ms", "median step time (ms)"), (axes[1], "mib", "peak memory (MiB)")):
        ax.bar(range(len(rows)), [r[key] for r in rows], color=[f"C{i}" for i in range(len(rows))])
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(names, fontsize=7)
        ax.set_ylabel(ylabel)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, plt, path)


def plot_scaling(path: Path, title: str, xlabel: str, xs: List[float],
                 series: Dict[str, List[Optional[dict]]], logx: bool = False) -> Optional[Path]:
    """Step time and peak memory versus ``xs``, one line per implementation;
    series[label][i] is {"ms", "mib"} or None (skipped / failed)."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, ylabel in ((axes[0], "ms", "median step time (ms)"), (axes[1], "mib", "peak memory (MiB)")):
        for label, points in series.items():
            pts = [(x, p[key]) for x, p in zip(xs, points) if p is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")
        if logx:
            ax.set_xscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{x:g}" for x in xs])
        ax.minorticks_off()
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, plt, path)


def _save(fig, plt, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
