"""Training runs on a few LFW people: each loss, outputs, refusals, NaN, kill and resume, DDP."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from faceprint import FaceRecognizer, create_model
from faceprint.errors import DatasetError, TrainingError
from faceprint.training import TrainConfig, train
from tests.training.conftest import PEOPLE


def _config(crops: Path, out: Path, **changes) -> TrainConfig:
    fields = dict(data=crops, out=out, cropped=True, epochs=1, batch_size=8, workers=0, lr=0.01)
    return TrainConfig(**(fields | changes))


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["softmax", "arcface", "triplet"])
def test_each_loss_learns_the_people(crops, tmp_path, loss):
    summary = train(_config(crops, tmp_path / "run", loss=loss, epochs=2, progress=False))
    assert summary["classes"] == len(PEOPLE) and summary["epochs"] == 2
    assert (summary["train_images"], summary["val_images"]) == (20, 10)
    assert summary["val_top1"] >= 0.7  # chance is 0.2
    record = create_model(tmp_path / "run" / "model.pt").weights
    assert record.classes == PEOPLE and record.num_classes == len(PEOPLE)
    assert 0.5 < summary["threshold"] < 1.5
    assert record.thresholds["box"] == pytest.approx(summary["threshold"])
    # fitted on the base model's embeddings, which training moved: not carried over
    assert record.quality_head is None and record.open_set_margin == {}


def test_run_outputs(trained):
    summary = json.loads((trained / "summary.json").read_text())
    for key in ("val_top1", "classes", "train_images", "val_images", "epochs", "best_epoch"):
        assert key in summary
    assert summary["val_top1"] >= summary["baseline_top1"]
    assert summary["seconds"] > 0 and summary["images_per_second"] > 0
    with open(trained / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    from PIL import Image

    assert Image.open(trained / "curves.png").size[0] >= 600


def test_trained_model_verifies_like_a_registry_model(trained, lfw):
    recognizer = FaceRecognizer(model=trained / "model.pt")
    assert recognizer.weights.classes == PEOPLE
    powell = lfw / "images" / "Colin_Powell"
    same = recognizer.verify(powell / "Colin_Powell_0020.jpg", powell / "Colin_Powell_0021.jpg")
    other = recognizer.verify(
        powell / "Colin_Powell_0020.jpg", lfw / "images" / "Tony_Blair" / "Tony_Blair_0020.jpg"
    )
    assert same.same and not other.same and same.distance < other.distance


def test_refuses_an_existing_run_without_resume(trained, crops):
    with pytest.raises(DatasetError, match="already holds a run .*pass --resume"):
        train(_config(crops, trained))


def test_one_usable_image_is_refused_before_training(tmp_path, crops):
    data = tmp_path / "data"
    for person in PEOPLE[:2]:
        (data / person).mkdir(parents=True)
    for i, photo in enumerate(sorted((crops / PEOPLE[0]).iterdir())[:3]):
        os.symlink(photo, data / PEOPLE[0] / f"{i}.png")
    os.symlink(next((crops / PEOPLE[1]).iterdir()), data / PEOPLE[1] / "0.png")
    with pytest.raises(DatasetError, match=f"{PEOPLE[1]} has a single usable image"):
        train(_config(data, tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_nan_loss_stops_naming_epoch_and_batch(crops, tmp_path):
    config = _config(crops, tmp_path / "run", batch_size=4, lr=1e30, freeze="backbone")
    with pytest.raises(TrainingError, match=r"at epoch 1, batch [2-5];"):
        train(config)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    # model.pt is the starting model, never worse than the baseline, written before training.
    record = create_model(tmp_path / "run" / "model.pt").weights
    assert "head imprinted" in record.description and record.classes == PEOPLE


def _cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "faceprint", *map(str, args)]


@pytest.mark.slow
def test_resume_after_sigkill_finishes_every_epoch(crops, tmp_path):
    run = tmp_path / "run"
    args = ("train", crops, "--cropped", "--out", run, "--epochs", 3, "--batch-size", 4)
    slow = ("--freeze", "none", "--workers", 0, "--seed", 1)
    process = subprocess.Popen(_cli(*args, *slow), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (run / "checkpoint.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with open(run / "metrics.csv", newline="") as f:
        done = len(list(csv.DictReader(f)))
    assert done < 3

    resumed = subprocess.run(_cli(*args, *slow, "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming {run} after epoch {done}" in resumed.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 3
    with open(run / "metrics.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3]
    assert tuple(torch.load(run / "model.pt", weights_only=True)["record"]["classes"]) == PEOPLE


@pytest.mark.slow
def test_two_process_ddp_on_cpu(crops, tmp_path):
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "faceprint",
        *map(str, ("train", crops, "--cropped", "--out", run, "--epochs", 2)),
        *("--batch-size", "4", "--workers", "0", "--freeze", "backbone"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs"] == 2
    assert result.stdout.count("epoch 2/2: loss") == 1  # rank 0 alone reports
    assert create_model(run / "model.pt").weights.classes == PEOPLE


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"loss": "triplet", "batch_size": 6}, "--batch-size must be a multiple of 4, got 6"),
        ({"loss": "triplet", "batch_size": 24}, "with 5 people fills batches of at most 20"),
        ({"freeze": "block9"}, "--freeze must be one of auto, none, backbone, conv2d_1a"),
        ({"loss": "cosface"}, "--loss must be one of softmax, arcface, triplet"),
    ],
)
def test_bad_settings_are_refused_before_training(crops, tmp_path, changes, message):
    with pytest.raises(DatasetError, match=message):
        train(_config(crops, tmp_path / "run", **changes))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def _top1_of_model_file(model_file: Path, folder) -> float:
    """Top-1 of a model file's own head on the crops of ``folder``."""
    from faceprint.training.data import CropDataset

    model = create_model(model_file).eval()
    data = CropDataset(folder, model.weights.standardization)
    x = torch.stack([data[i][0] for i in range(len(data))])
    with torch.inference_mode():
        guess = model.logits(model.features(x)).argmax(1).numpy()
    return float((guess == folder.labels).mean())


@pytest.mark.slow
def test_one_epoch_ends_no_worse_than_the_baseline(crops, tmp_path):
    from faceprint.training.data import scan_folder, split_per_class

    summary = train(_config(crops, tmp_path / "run", lr=None, progress=False))
    assert summary["val_top1"] >= summary["baseline_top1"] > 0.5  # chance is 0.2
    assert summary["head"] == "imprint" and summary["defaults"] == "small set"
    assert summary["epochs"] == 1 and summary["best_epoch"] in (0, 1)
    assert summary["beat_baseline"] == (summary["best_epoch"] == 1)
    _, val = split_per_class(scan_folder(crops), 0.3, seed=0)
    assert _top1_of_model_file(tmp_path / "run" / "model.pt", val) == summary["val_top1"]


def test_a_run_that_never_beats_the_baseline_keeps_the_imprinted_start(crops, tmp_path):
    from faceprint.training.data import scan_folder, split_per_class

    summary = train(_config(crops, tmp_path / "run", head="random", lr=1e-6, progress=False))
    assert summary["final_val_top1"] < summary["baseline_top1"]  # a random head: near chance
    assert summary["best_epoch"] == 0 and not summary["beat_baseline"]
    assert summary["val_top1"] == summary["baseline_top1"]
    assert "no epoch beat the baseline" in summary["kept"]
    _, val = split_per_class(scan_folder(crops), 0.3, seed=0)
    assert _top1_of_model_file(tmp_path / "run" / "model.pt", val) == summary["baseline_top1"]
    assert "head imprinted" in create_model(tmp_path / "run" / "model.pt").weights.description


@pytest.mark.slow
def test_frozen_outputs_are_cached_per_crop_and_continued_from_earlier_blocks(crops, tmp_path):
    from faceprint.training.data import CropDataset, scan_folder
    from faceprint.training.trainer import _crop_key, _frozen_cache_folder, frozen_cache_dir
    from faceprint.weights.factory import get_weights

    train(_config(crops, tmp_path / "a", freeze="repeat_3", progress=False))
    before = set(frozen_cache_dir().rglob("*.pt"))
    train(_config(crops, tmp_path / "b", freeze="repeat_3", seed=1, progress=False))
    assert set(frozen_cache_dir().rglob("*.pt")) == before  # another split: nothing recomputed
    train(_config(crops, tmp_path / "c", freeze="backbone", progress=False))
    folder = scan_folder(crops)
    record = get_weights("ms-celeb-1m")
    cache = _frozen_cache_folder(record, "avgpool_1a", record.standardization)
    first = cache / f"{_crop_key(folder.paths[0])}.pt"
    model = create_model("ms-celeb-1m").eval()
    x = CropDataset(folder, record.standardization)[0][0][None]
    with torch.inference_mode():
        direct = model.trunk(x, until="avgpool_1a")[0]
    assert torch.allclose(torch.load(first, weights_only=True), direct, atol=1e-4)
