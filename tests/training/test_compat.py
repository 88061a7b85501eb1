"""facenet-pytorch's training helpers: same behaviour, without its two defects."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from faceprint.training import BatchTimer, Logger, accuracy, collate_pil, pass_epoch


def _loader(n: int = 32, batch: int = 8):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=generator)
    y = (x[:, 0] > 0).long()
    dataset = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(dataset, batch_size=batch)


def test_pass_epoch_trains_then_evaluates_without_autograd(capsys):
    torch.manual_seed(0)
    model = nn.Linear(6, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [1], 0.1)
    metrics = {"acc": accuracy}
    model.eval()
    before, _ = pass_epoch(model, nn.functional.cross_entropy, _loader(), batch_metrics=metrics)
    model.train()
    for _ in range(3):
        pass_epoch(model, nn.functional.cross_entropy, _loader(), optimizer, scheduler, metrics)
    model.eval()
    after, evaluated = pass_epoch(
        model, nn.functional.cross_entropy, _loader(), batch_metrics=metrics
    )
    assert after < before and evaluated["acc"] >= 0.8
    assert not after.requires_grad
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)  # past the one milestone
    last = capsys.readouterr().out.rstrip("\n").split("\n")[-1].split("\r")[-1]
    assert last.startswith("Valid |     4/4    | loss: ") and "| acc: " in last


def test_pass_epoch_has_no_shared_mutable_default():
    default = inspect.signature(pass_epoch).parameters["batch_metrics"].default
    assert default is None
    model = nn.Linear(6, 2).eval()
    _, metrics = pass_epoch(model, nn.functional.cross_entropy, _loader(), show_running=False)
    assert set(metrics) == {"time"} and metrics["time"] > 0


def test_batch_timer_rates_and_durations():
    y = torch.zeros(4)
    rate = BatchTimer()(y, y)
    duration = BatchTimer(rate=False, per_sample=False)(y, y)
    assert rate > 0 and 0 <= duration < 1


def test_accuracy_and_collate_pil():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0]])
    assert float(accuracy(logits, torch.tensor([0, 1, 1]))) == pytest.approx(2 / 3)
    assert collate_pil([("a", 1), ("b", 2)]) == (["a", "b"], [1, 2])


def test_logger_running_mean(capsys):
    Logger("Train", length=2, calculate_mean=True)(4.0, {"acc": 1.0}, 1)
    assert capsys.readouterr().out == "\rTrain |     2/2    | loss:    2.0000 | acc:    0.5000   \n"
