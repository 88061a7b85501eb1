"""Training folders: refused with a clear message before any work, split, cropped, resumed."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprint.alignment import Alignment
from faceprint.errors import DatasetError, ImageError
from faceprint.training.data import (
    CropDataset,
    crop_tree,
    match_classes,
    scan_folder,
    split_per_class,
)
from tests.training.conftest import link_people


def _tree(root: Path, layout: dict[str, int]) -> Path:
    for person, count in layout.items():
        (root / person).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (8, 8)).save(root / person / f"{i}.png")
    return root


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "has no person subfolders"),
        ({"ann": 2, "bob": 0}, "every person needs at least one image; bob has no images"),
    ],
)
def test_scan_refuses(tmp_path, layout, message):
    root = _tree(tmp_path / "data", layout) if layout else tmp_path
    with pytest.raises(DatasetError, match=message):
        scan_folder(root)


def test_scan_refuses_loose_images_and_lists_non_images(tmp_path):
    root = _tree(tmp_path / "data", {"ann": 2})
    (root / "ann" / "notes.txt").write_text("x")
    folder = scan_folder(root)
    assert folder.classes == ("ann",) and len(folder.paths) == 2
    assert folder.ignored == (root / "ann" / "notes.txt",)
    Image.new("RGB", (8, 8)).save(root / "loose.jpg")
    with pytest.raises(DatasetError, match=r"holds images outside any person folder \(loose.jpg\)"):
        scan_folder(root)


def test_split_is_per_person_and_repeatable(tmp_path):
    folder = scan_folder(_tree(tmp_path / "d", {"ann": 10, "bob": 3, "cy": 2}))
    train, val = split_per_class(folder, 0.3, seed=0)
    assert np.bincount(val.labels).tolist() == [3, 1, 1]
    assert np.bincount(train.labels).tolist() == [7, 2, 1]
    again = split_per_class(folder, 0.3, seed=0)[1]
    assert again.paths == val.paths and split_per_class(folder, 0.3, seed=1)[1].paths != val.paths


def test_match_classes_refuses_unknown_people(tmp_path):
    train = scan_folder(_tree(tmp_path / "t", {"ann": 2, "bob": 2}))
    val = scan_folder(_tree(tmp_path / "v", {"bob": 1, "zed": 1}))
    with pytest.raises(DatasetError, match="--val has 1 people the training data does not: zed"):
        match_classes(train, val)
    ok = match_classes(train, scan_folder(_tree(tmp_path / "v2", {"bob": 1})))
    assert ok.labels.tolist() == [1] and ok.classes == ("ann", "bob")


def test_crop_tree_lists_every_skipped_photo_and_resumes(lfw, tmp_path):
    photos = link_people(lfw, tmp_path / "photos", ("Colin_Powell",), photos=3)
    (photos / "Colin_Powell" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    Image.new("RGB", (250, 250), (120, 120, 120)).save(photos / "Colin_Powell" / "grey.jpg")
    folder = scan_folder(photos)
    out = tmp_path / "crops"

    first = crop_tree(folder, out, Alignment("box", margin=0), 0.98, 32, progress=False)
    assert first.written == 3 and first.kept == 0
    crops = sorted(p.name for p in (out / "Colin_Powell").iterdir())
    assert crops == ["Colin_Powell_0001.png", "Colin_Powell_0002.png", "Colin_Powell_0003.png"]
    assert Image.open(out / "Colin_Powell" / crops[0]).size == (160, 160)
    with open(out / "skipped.csv", newline="") as f:
        reasons = {Path(row["image"]).name: row["reason"] for row in csv.DictReader(f)}
    assert reasons["grey.jpg"] == "no face found"
    assert reasons["broken.jpg"].startswith("unreadable: ")

    os.remove(out / "Colin_Powell" / crops[1])
    again = crop_tree(folder, out, Alignment("box", margin=0), 0.98, 32, progress=False)
    assert (again.written, again.kept, len(again.skipped)) == (1, 2, 2)
    shutil.rmtree(out)


@pytest.mark.slow
def test_crop_tree_with_centerface_cuts_the_faces_mtcnn_cuts(lfw, tmp_path):
    """The same photos through CenterFace (its scores on its own scale, so a lower face
    filter): every face photo gives a crop, the grey one none, and each similarity-aligned crop
    is nearer MTCNN's crop of its own photo than MTCNN's crop of any other photo."""
    photos = link_people(lfw, tmp_path / "photos", ("Colin_Powell", "Tony_Blair"), photos=3)
    Image.new("RGB", (250, 250), (120, 120, 120)).save(photos / "Colin_Powell" / "grey.jpg")
    folder = scan_folder(photos)
    similarity = Alignment("similarity")
    mtcnn = crop_tree(folder, tmp_path / "m", similarity, 0.98, 32, progress=False)
    centerface = crop_tree(
        folder, tmp_path / "c", similarity, 0.5, 32, progress=False, detector="centerface"
    )
    assert mtcnn.written == centerface.written == 6
    assert [Path(p).name for p in centerface.skipped] == ["grey.jpg"]
    theirs = sorted((tmp_path / "m").rglob("*.png"))
    ours = [tmp_path / "c" / p.relative_to(tmp_path / "m") for p in theirs]
    pixels = [np.asarray(Image.open(p), np.float32) for p in theirs]
    for i, path in enumerate(ours):
        crop = np.asarray(Image.open(path), np.float32)
        distances = [np.abs(crop - other).mean() for other in pixels]
        assert int(np.argmin(distances)) == i, (path.name, distances)


def test_a_damaged_crop_is_an_image_error_naming_it(tmp_path):
    folder = scan_folder(_tree(tmp_path / "crops", {"ann": 2}))
    broken = folder.paths[1]
    broken.write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    data = CropDataset(folder, "fixed")
    x, label = data[0]
    assert x.shape == (3, 8, 8) and label == 0
    with pytest.raises(ImageError, match=str(broken)):
        data[1]


def test_crop_tree_leaves_out_faces_under_min_quality(lfw, tmp_path):
    person = tmp_path / "photos" / "Colin_Powell"
    person.mkdir(parents=True)
    clean = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    shutil.copy(clean, person / "clean.jpg")
    image = Image.open(clean).convert("RGB")
    small = image.resize((35, 35), Image.BILINEAR).resize(image.size, Image.BILINEAR)
    small.save(person / "blurred.jpg", quality=90)
    folder = scan_folder(tmp_path / "photos")
    out = tmp_path / "crops"
    report = crop_tree(folder, out, Alignment("box", margin=0), min_quality=0.6, progress=False)
    assert report.written == 1 and (out / "Colin_Powell" / "clean.png").is_file()
    [(path, reason)] = report.skipped.items()
    assert path.endswith("blurred.jpg")
    assert reason.startswith("face quality 0.") and reason.endswith("under --min-quality 0.6")
    kept = crop_tree(folder, tmp_path / "all", Alignment("box", margin=0), progress=False)
    assert kept.written == 2 and not kept.skipped
