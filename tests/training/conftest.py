"""A few LFW people, cropped once per session, and one short training run on them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PEOPLE = ("Ariel_Sharon", "Colin_Powell", "George_W_Bush", "Gerhard_Schroeder", "Tony_Blair")
PHOTOS = 6


def link_people(lfw: Path, out: Path, people=PEOPLE, photos: int = PHOTOS) -> Path:
    """``out/<person>/<photo>`` symlinks to the first ``photos`` LFW photos of ``people``."""
    for person in people:
        (out / person).mkdir(parents=True, exist_ok=True)
        for photo in sorted((lfw / "images" / person).iterdir())[:photos]:
            os.symlink(photo, out / person / photo.name)
    return out


@pytest.fixture(scope="session")
def photos(lfw, tmp_path_factory) -> Path:
    return link_people(lfw, tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="session")
def crops(photos, tmp_path_factory) -> Path:
    from faceprint.alignment import Alignment
    from faceprint.training.data import crop_tree, scan_folder

    out = tmp_path_factory.mktemp("crops")
    report = crop_tree(scan_folder(photos), out, Alignment("box", margin=0), 0.98, 32)
    assert report.written == len(PEOPLE) * PHOTOS and not report.skipped
    return out


@pytest.fixture(scope="session")
def trained(crops, tmp_path_factory) -> Path:
    """A run folder: softmax, 2 epochs, default freeze (a higher rate for 20 photos)."""
    from faceprint.training import TrainConfig, train

    out = tmp_path_factory.mktemp("run") / "run"
    train(
        TrainConfig(data=crops, out=out, cropped=True, epochs=2, batch_size=8, workers=0, lr=0.01)
    )
    return out


@pytest.fixture(scope="session", autouse=True)
def _frozen_cache(tmp_path_factory):
    """Frozen-block outputs of the tests' crops go to a temporary cache, not the user's."""
    previous = os.environ.get("FACEPRINT_TRAIN_CACHE")
    os.environ["FACEPRINT_TRAIN_CACHE"] = str(tmp_path_factory.mktemp("train-cache"))
    yield
    if previous is None:
        del os.environ["FACEPRINT_TRAIN_CACHE"]
    else:
        os.environ["FACEPRINT_TRAIN_CACHE"] = previous
