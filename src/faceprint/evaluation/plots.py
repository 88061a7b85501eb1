"""ROC curve pictures."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np


def plot_roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike, title: str = "ROC"
) -> None:
    """Write a ROC plot (log-scale FAR against TAR) with one line per entry of ``curves``.

    Args:
        curves: label -> ``(far, tar)`` arrays.
        path: PNG (or any matplotlib format) to write.
        title: plot title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    lowest = 1.0
    for label, (far, tar) in curves.items():
        keep = far >= _FAR_MIN
        ax.plot(far[keep], tar[keep], label=label, drawstyle="steps-post")
        lowest = min(lowest, float(tar[keep].min()) if keep.any() else 1.0)
    ax.set_xscale("log")
    ax.set_xlim(_FAR_MIN, 1)
    # Zoom on the curves: a near-perfect one would otherwise hug the top border.
    ax.set_ylim(
        max(0.0, lowest - 0.2 * (1.0 - lowest) - 0.005), 1.0 + 0.05 * (1.0 - lowest) + 0.002
    )
    ax.set_xlabel("false accept rate (log scale)")
    ax.set_ylabel("true accept rate")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


_FAR_MIN = 1e-4
