"""Pictures of evaluations: ROC curves, similarity histograms and similarity heatmaps."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)


def plot_roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike, title: str = "ROC"
) -> None:
    """Write a ROC plot (log-scale FAR against TAR) with one line per entry of ``curves``.

    Args:
        curves: label -> ``(far, tar)`` arrays.
        path: PNG (or any matplotlib format) to write.
        title: plot title.
    """
    fig, ax = _pyplot().subplots(figsize=(6, 4.5), dpi=120)
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
    _save(fig, path)


def plot_similarity_histogram(
    similarities: Mapping[str, np.ndarray],
    threshold_similarity: float,
    path: str | os.PathLike,
    title: str = "identity similarity",
) -> None:
    """Write the distribution of cosine similarities of each set, the threshold marked: one
    panel per set, stacked on a shared axis (overlaid, more than three would hide each other).

    Args:
        similarities: label -> ``(P,)`` cosine similarities in [-1, 1].
        threshold_similarity: the similarity above which a pair verifies as one person.
        path: PNG to write.
        title: plot title.
    """
    values = [v for v in similarities.values() if len(v)]
    low = min([threshold_similarity - 0.1, *(float(v.min()) for v in values)])
    bins = np.linspace(max(-1.0, low - 0.02), 1.0, 60)
    count = max(1, len(similarities))
    fig, axes = _pyplot().subplots(
        count, 1, figsize=(7, 1.5 + 1.1 * count), dpi=120, sharex=True, squeeze=False
    )
    colours = _pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (ax, (label, sims)) in enumerate(zip(axes[:, 0], similarities.items(), strict=False)):
        colour = colours[i % len(colours)]
        ax.hist(sims, bins=bins, color=colour, alpha=0.45)
        ax.hist(sims, bins=bins, histtype="step", color=colour, linewidth=1.2)
        ax.axvline(threshold_similarity, color="black", linestyle="--", linewidth=1)
        mean = f", mean {float(np.mean(sims)):.3f}" if len(sims) else ""
        ax.set_title(f"{label}: {len(sims)} pairs{mean}", fontsize=8, loc="left", pad=2)
        ax.tick_params(labelsize=7)
        ax.set_ylabel("pairs", fontsize=7)
    axes[0, 0].text(
        threshold_similarity,
        0.95,
        f" same person above {threshold_similarity:.3f}",
        transform=axes[0, 0].get_xaxis_transform(),
        va="top",
        fontsize=7,
    )
    axes[-1, 0].set_xlabel("cosine similarity to the reference face")
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_similarity_heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    columns: Sequence[str],
    path: str | os.PathLike,
    title: str = "cosine similarity",
) -> None:
    """Write a similarity matrix as a heatmap; names label the axes up to 40 of them.

    Args:
        matrix: ``(G, R)`` cosine similarities in [-1, 1].
        rows, columns: G and R names.
        path: PNG to write.
        title: plot title.
    """
    side = min(12.0, 4.0 + 0.18 * max(len(rows), len(columns), 1))
    fig, ax = _pyplot().subplots(figsize=(side + 1.5, side), dpi=110)
    shown = ax.imshow(matrix, cmap="viridis", vmin=min(0.0, float(matrix.min(initial=0))), vmax=1)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label="cosine similarity")
    for names, set_ticks, set_labels, axis in (
        (rows, ax.set_yticks, ax.set_yticklabels, "generated"),
        (columns, ax.set_xticks, ax.set_xticklabels, "reference"),
    ):
        if len(names) <= 40:
            set_ticks(range(len(names)))
            set_labels(names, fontsize=7, rotation=90 if axis == "reference" else 0)
    ax.set_xlabel("reference")
    ax.set_ylabel("generated")
    ax.set_title(title)
    _save(fig, path)


_FAR_MIN = 1e-4
