"""facenet-pytorch's training helpers, same signatures and output, so its ``finetune.ipynb``
runs with only the import changed (``from faceprint import training``).

Two of its defects are fixed: evaluation runs under ``torch.no_grad()`` (it kept autograd
graphs), and ``batch_metrics`` has no shared mutable default (its ``BatchTimer`` default was one
object for every call).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch


class Logger:
    """Prints ``Train |    3/20   | loss:    1.2345 | fps:  123.4567`` on one updating line.

    Args:
        mode: the line's label (``"Train"`` or ``"Valid"``).
        length: batches in the epoch.
        calculate_mean: print running means (sums divided by batches so far) rather than the
            values passed.
    """

    def __init__(self, mode: str, length: int, calculate_mean: bool = False) -> None:
        self.mode = mode
        self.length = length
        self.calculate_mean = calculate_mean

    def fn(self, x: Any, i: int) -> Any:
        """The value shown for ``x`` after batch ``i``."""
        return x / (i + 1) if self.calculate_mean else x

    def __call__(self, loss: Any, metrics: Mapping[str, Any], i: int) -> None:
        track = f"\r{self.mode} | {i + 1:5d}/{self.length:<5d}| "
        loss_text = f"loss: {float(self.fn(loss, i)):9.4f} | "
        metric_text = " | ".join(f"{k}: {float(self.fn(v, i)):9.4f}" for k, v in metrics.items())
        print(track + loss_text + metric_text + "   ", end="")
        if i + 1 == self.length:
            print("")


class BatchTimer:
    """Time per batch, as a metric: rates (samples or batches per second) or durations.

    Args:
        rate: report a rate rather than a duration.
        per_sample: per sample rather than per batch.
    """

    def __init__(self, rate: bool = True, per_sample: bool = True) -> None:
        self.start = time.time()
        self.end: float | None = None
        self.rate = rate
        self.per_sample = per_sample

    def __call__(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.end = time.time()
        elapsed = self.end - self.start
        self.start, self.end = self.end, None
        if self.per_sample:
            elapsed /= len(y_pred)
        if self.rate:
            elapsed = 1 / elapsed
        return torch.tensor(elapsed)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Top-1 accuracy, a 0-d float tensor in [0, 1], of ``(B, C)`` logits against ``(B,)``
    class indices."""
    return (logits.argmax(1) == y).float().mean()


def pass_epoch(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    loader: Iterable,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    batch_metrics: Mapping[str, Callable] | None = None,
    show_running: bool = True,
    device: str | torch.device = "cpu",
    writer: Any = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Train (``model.training``) or evaluate over one pass of ``loader``.

    Args:
        model: the network; its mode decides training or evaluation.
        loss_fn: scalar loss of ``(model(x), y)``.
        loader: yields ``(x, y)`` batches.
        optimizer: stepped after each training batch.
        scheduler: stepped once at the end of a training epoch.
        batch_metrics: metric functions of ``(y_pred, y)``; None means ``{"time": BatchTimer()}``,
            a new timer per call.
        show_running: print running means rather than each batch's values.
        device: where batches are moved.
        writer: a TensorBoard ``SummaryWriter`` with ``iteration`` and ``interval`` attributes.

    Returns:
        The mean loss and the mean of each metric over the batches, as 0-d tensors.
    """
    if batch_metrics is None:
        batch_metrics = {"time": BatchTimer()}
    mode = "Train" if model.training else "Valid"
    logger = Logger(mode, length=len(loader), calculate_mean=show_running)  # type: ignore[arg-type]
    loss: Any = 0
    metrics: dict[str, Any] = {}
    i_batch = -1
    with torch.set_grad_enabled(model.training):
        for i_batch, (x, y) in enumerate(loader):
            x, y = x.to(device), y.to(device)
            y_pred = model(x)
            loss_batch = loss_fn(y_pred, y)
            if model.training:
                loss_batch.backward()
                optimizer.step()
                optimizer.zero_grad()
            metrics_batch = {}
            for name, fn in batch_metrics.items():
                metrics_batch[name] = fn(y_pred, y).detach().cpu()
                metrics[name] = metrics.get(name, 0) + metrics_batch[name]
            if writer is not None and model.training:
                if writer.iteration % writer.interval == 0:
                    writer.add_scalars("loss", {mode: loss_batch.detach().cpu()}, writer.iteration)
                    for name, value in metrics_batch.items():
                        writer.add_scalars(name, {mode: value}, writer.iteration)
                writer.iteration += 1
            loss_batch = loss_batch.detach().cpu()
            loss += loss_batch
            if show_running:
                logger(loss, metrics, i_batch)
            else:
                logger(loss_batch, metrics_batch, i_batch)
    if i_batch < 0:
        raise ValueError("the loader yielded no batch")
    if model.training and scheduler is not None:
        scheduler.step()
    loss = loss / (i_batch + 1)
    metrics = {k: v / (i_batch + 1) for k, v in metrics.items()}
    if writer is not None and not model.training:
        writer.add_scalars("loss", {mode: loss.detach()}, writer.iteration)
        for name, value in metrics.items():
            writer.add_scalars(name, {mode: value})
    return loss, metrics


def collate_pil(batch: Iterable[tuple[Any, Any]]) -> tuple[list, list]:
    """Collate ``(image, label)`` pairs into a list of images and a list of labels, for loaders
    of PIL images (which the default collate cannot stack)."""
    images, labels = [], []
    for image, label in batch:
        images.append(image)
        labels.append(label)
    return images, labels
