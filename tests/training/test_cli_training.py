"""`faceprint crop`, `train` and `classify`, and trained models through every command."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner
from PIL import Image

from faceprint.cli import main
from tests.training.conftest import PEOPLE


def _run(*args, code=0):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def test_crop_command_reports_skipped_photos_and_exit_1(photos, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(photos, src, symlinks=True)
    (src / PEOPLE[0] / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (250, 250), (90, 90, 90)).save(src / PEOPLE[1] / "wall.jpg")
    out = tmp_path / "out"
    result = _run("crop", src, out, "--size", 112, code=1)
    assert "30 crops written, 0 already there" in result.output
    assert "2 photos skipped" in result.output
    assert "1 of 32 photos (unreadable) failed" in result.output  # a wall is handled
    assert not (out / PEOPLE[1] / "wall.png").exists()
    assert f"{src / PEOPLE[0] / 'empty.jpg'},unreadable: " in (out / "skipped.csv").read_text()
    assert (
        str(src / PEOPLE[0] / "empty.jpg") not in (out / "skipped.csv").read_text().split(",")[-1]
    )
    again = _run("crop", src, out, "--size", 112, code=1)
    assert "0 crops written, 30 already there" in again.output


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("flat", "has no person subfolders"),
        ("empty-person", "every person needs at least one image; nobody has no images"),
    ],
)
def test_train_refuses_bad_folders_before_work(tmp_path, crops, layout, message):
    data = tmp_path / "data"
    data.mkdir()
    if layout == "empty-person":
        shutil.copytree(crops / PEOPLE[0], data / PEOPLE[0], symlinks=True)
        (data / "nobody").mkdir()
    result = _run("train", data, "--cropped", "--out", tmp_path / "run", code=2)
    assert message in result.output
    assert not (tmp_path / "run").exists()


def test_train_refuses_val_people_it_does_not_learn(tmp_path, crops):
    val = tmp_path / "val"
    shutil.copytree(crops / PEOPLE[0], val / "Someone_Else", symlinks=True)
    result = _run("train", crops, "--cropped", "--val", val, "--out", tmp_path / "run", code=2)
    assert "--val has 1 people the training data does not: Someone_Else" in result.output


@pytest.mark.slow
def test_classify_names_the_person(trained, lfw):
    photo = lfw / "images" / "Tony_Blair" / "Tony_Blair_0030.jpg"  # not among the 6 trained on
    report = json.loads(
        _run("classify", photo, "--model", trained / "model.pt", "--top-k", 3, "--json").stdout
    )
    top = report[0]["faces"][0]["top"]
    assert top[0]["name"] == "Tony_Blair" and len(top) == 3
    assert top[0]["probability"] > top[1]["probability"] > 0
    assert sum(t["probability"] for t in top) <= 1.0 + 1e-6


def test_classify_says_unknown_for_someone_it_did_not_learn(trained, lfw):
    stranger = lfw / "images" / "Jennifer_Aniston" / "Jennifer_Aniston_0001.jpg"
    blair = lfw / "images" / "Tony_Blair" / "Tony_Blair_0030.jpg"
    model = trained / "model.pt"
    report = json.loads(_run("classify", stranger, blair, "--model", model, "--json").stdout)
    unknown, known = (entry["faces"][0] for entry in report)
    assert unknown["name"] == "unknown" and unknown["distance"] >= unknown["threshold"]
    assert known["name"] == "Tony_Blair" and known["distance"] < known["threshold"]
    assert 0.3 < known["threshold"] < 1.4 and unknown["top"][0]["name"] in PEOPLE
    # A looser false-alarm rate gives a larger distance (more strangers named).
    text = _run("classify", stranger, blair, "--model", model, "--far", 0.5).output
    loose = float(text.split("Tony_Blair (distance to Tony_Blair ")[1].split(" < ")[1][:5])
    assert loose > known["threshold"]
    assert f"(distance to {unknown['top'][0]['name']} {unknown['distance']:.3f} " in text


def test_train_reports_the_baseline(crops, tmp_path):
    out = tmp_path / "run"
    args = ("train", crops, "--cropped", "--out", out, "--epochs", 1, "--batch-size", 8)
    result = _run(*args, "--workers", 0)
    summary = json.loads((out / "summary.json").read_text())
    assert f"baseline {summary['baseline_top1']:.4f}" in result.output
    assert f"val top-1 {summary['val_top1']:.4f}, baseline" in result.output
    assert "small set defaults: freeze" in result.output


def test_classify_refuses_a_model_without_classes():
    result = _run("classify", __file__, "--model", "ms-celeb-1m", code=2)
    assert "has no named classes" in result.output


@pytest.mark.slow
def test_trained_model_through_verify_enroll_identify(trained, lfw, tmp_path, monkeypatch):
    model = trained / "model.pt"
    powell = lfw / "images" / "Colin_Powell"
    verdict = json.loads(
        _run(
            "verify",
            powell / "Colin_Powell_0030.jpg",
            powell / "Colin_Powell_0031.jpg",
            "--model",
            model,
            "--json",
        ).stdout
    )
    assert verdict["same"] is True
    gallery = tmp_path / "g.gallery"
    people = tmp_path / "people"
    for person in PEOPLE:
        (people / person).mkdir(parents=True)
        photo = sorted((lfw / "images" / person).iterdir())[7]
        os.symlink(photo, people / person / photo.name)
    _run("enroll", "--gallery", gallery, people, "--model", model)
    found = json.loads(
        _run("identify", "--gallery", gallery, powell / "Colin_Powell_0040.jpg", "--json").stdout
    )
    assert found[0]["faces"][0]["identity"] == "Colin_Powell"
    refused = _run("enroll", "--gallery", gallery, people, "--model", "ms-celeb-1m", code=2)
    assert "cannot take ms-celeb-1m/box" in refused.output
