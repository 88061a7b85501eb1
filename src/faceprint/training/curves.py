"""Training curves: loss and validation top-1 per epoch, in one picture."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def plot_curves(
    history: Sequence[dict],
    path: str | os.PathLike,
    title: str = "",
    baseline: float | None = None,
) -> None:
    """Write the loss (left axis) and validation top-1 (right axis) of each epoch to ``path``.

    Args:
        history: one dict per epoch with ``epoch``, ``train_loss`` and ``val_top1``.
        path: the picture file (PNG).
        title: the plot's title.
        baseline: the starting model's validation top-1 in [0, 1], drawn as a dashed line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, loss_axis = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    loss_axis.plot(epochs, [row["train_loss"] for row in history], "o-", color="tab:red")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:red")
    loss_axis.tick_params(axis="y", labelcolor="tab:red")
    top1_axis = loss_axis.twinx()
    top1_axis.plot(epochs, [row["val_top1"] for row in history], "s-", color="tab:blue")
    if baseline is not None:
        top1_axis.axhline(baseline, color="tab:blue", linestyle="--", linewidth=1)
        top1_axis.annotate(
            f"baseline {baseline:.3f}",
            (epochs[0], baseline),
            textcoords="offset points",
            xytext=(0, -12),
            color="tab:blue",
            fontsize=8,
        )
    top1_axis.set_ylabel("validation top-1", color="tab:blue")
    top1_axis.tick_params(axis="y", labelcolor="tab:blue")
    top1_axis.set_ylim(0, 1.02)
    loss_axis.set_xticks(epochs)
    loss_axis.grid(True, alpha=0.3)
    loss_axis.set_title(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
