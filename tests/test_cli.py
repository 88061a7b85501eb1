"""The faceprint command, run as a user runs it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from faceprint.cli import main
from tests.evaluation.test_verification import small_pairs_file


def test_detect_json_annotate_and_crops(run, multiface, tmp_path):
    out = run(
        "detect",
        multiface,
        "--json",
        "--annotate",
        tmp_path / "ann.png",
        "--crops",
        tmp_path / "crops",
    )
    report = json.loads(out.stdout)
    assert len(report) == 1 and len(report[0]["faces"]) == 6
    face = report[0]["faces"][0]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and face["probability"] > 0.99
    assert all(0.0 <= f["quality"] <= 1.0 for f in report[0]["faces"])
    assert Image.open(tmp_path / "ann.png").size == (1200, 630)
    assert len(list((tmp_path / "crops").glob("multiface_*.png"))) == 6


def test_detect_reports_a_bad_file(run, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    result = run("detect", bad, ok=False)
    assert result.exit_code == 1 and "bad.jpg: not an image file" in result.output


def test_analyze_gives_every_face_age_gender_and_emotion(run, multiface, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    result = run("analyze", multiface, bad, "--json", ok=False)
    assert result.exit_code == 1 and "bad.jpg: not an image file" in result.output
    good, failed = json.loads(result.stdout)
    assert failed["faces"] == [] and "not an image file" in failed["error"]
    faces = good["faces"]
    assert len(faces) == 6
    # The group photo (the cast of Friends): three men, three women.
    assert sorted(f["gender"] for f in faces) == ["female"] * 3 + ["male"] * 3
    for face in faces:
        assert len(face["box"]) == 4 and len(face["landmarks"]) == 5
        assert 15 < face["age"] < 60 and 0.5 <= face["gender_probability"] <= 1
        assert face["emotion"] == max(
            face["emotion_probabilities"], key=face["emotion_probabilities"].get
        )
        assert sum(face["emotion_probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert sum(f["emotion"] == "happy" for f in faces) >= 3
    from faceprint import FaceRecognizer

    library = FaceRecognizer(precision="fp32").embed(multiface)
    assert [f["quality"] for f in faces] == pytest.approx([f.quality for f in library], abs=1e-4)


def test_embed_attributes_need_a_folder(run, multiface, tmp_path):
    result = run("embed", multiface, "--out", tmp_path / "x.npz", "--attributes", ok=False)
    assert result.exit_code == 2 and "--attributes adds columns to a folder" in result.output
    assert not (tmp_path / "x.npz").exists()


def test_models_list(run):
    out = run("models", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["vggface2"]["dim"] == 512 and rows["vggface2"]["classes"] == 8631
    assert rows["casia-webface"]["classes"] == 10575
    assert rows["ms-celeb-1m"]["dim"] == 128 and rows["ms-celeb-1m"]["lfw_accuracy"] == 0.992
    mobilefacenet = rows["mobilefacenet"]
    assert mobilefacenet["dim"] == 192 and mobilefacenet["license"].startswith("MIT")
    assert "Apache-2.0" in mobilefacenet["license"] and mobilefacenet["lfw_measured"] < 0.7
    faceres = rows["hse-faceres-id"]
    assert faceres["dim"] == 1024 and faceres["lfw_measured"] == 0.966
    assert "VGGFace2 training data is research-only" in faceres["license"]
    assert rows["centerface"]["task"] == "detection" and rows["vggface2"]["task"] == "recognition"
    assert rows["oarriaga-emotion"]["task"] == "attributes"
    text = run("models", "list").stdout
    assert "ms-celeb-1m" in text and "cached" in text and "licence" in text
    assert text.splitlines()[0].split()[:2] == ["name", "task"]
    detection = run("models", "list", "--task", "detection").stdout.splitlines()
    assert {line.split()[0] for line in detection[1:5]} == {
        "mtcnn-pnet",
        "mtcnn-rnet",
        "mtcnn-onet",
        "centerface",
    } and detection[5].startswith("LFW")
    assert "centerface, mtcnn, or several joined with '+'" in detection[6]
    assert (
        "CC0 1.0 Universal"
        in text.splitlines()[[n.split()[0] for n in text.splitlines()].index("dlib-resnet-v1")]
    )


def test_models_fetch_unknown(run):
    result = run("models", "fetch", "nope", ok=False)
    assert result.exit_code != 0 and "unknown pretrained weights 'nope'" in result.output


@pytest.mark.default_path
def test_verify(run, lfw, tmp_path):
    a = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    b = lfw / "images" / "Colin_Powell" / "Colin_Powell_0002.jpg"
    c = lfw / "images" / "Abdullah_Gul" / "Abdullah_Gul_0001.jpg"
    same = json.loads(run("verify", a, b, "--json").stdout)
    assert same["same"] is True and same["distance"] < same["threshold"]
    text = run("verify", a, c, "--annotate", tmp_path / "v.png").stdout
    assert "different people" in text and "threshold" in text
    assert Image.open(tmp_path / "v.png").height > 300


def test_embed_directory(run, lfw, tmp_path):
    folder = tmp_path / "people"
    folder.mkdir()
    for src in sorted((lfw / "images" / "Colin_Powell").glob("*.jpg"))[:3]:
        (folder / src.name).symlink_to(src)
    out = run("embed", folder, "--out", tmp_path / "e.npz").stdout
    assert "3 faces from 3 images" in out
    with np.load(tmp_path / "e.npz") as f:
        assert f["embedding"].shape == (3, 128) and f["box"].shape == (3, 4)
        assert str(f["model"]) == "ms-celeb-1m/box"


@pytest.mark.slow
def test_eval_lfw_json_and_plot(run, lfw, tmp_path):
    pairs = small_pairs_file(lfw, tmp_path / "pairs.txt")
    out = run(
        "eval", "lfw", "--data", lfw, "--pairs", pairs, "--json", "--plot", tmp_path / "roc.png"
    )
    d = json.loads(out.stdout)
    for key in (
        "accuracy",
        "accuracy_std",
        "auc",
        "eer",
        "tar_at_far_1e-3",
        "missed_detections",
        "images",
        "seconds",
    ):
        assert key in d
    assert d["accuracy"] >= 0.9 and d["images"] > 40
    assert Image.open(tmp_path / "roc.png").size[0] > 300


def test_demo(run, tmp_path):
    out = run("demo", "--out", tmp_path / "demo.png").stdout
    assert "astronaut vs astronaut (mirrored, rotated, rescaled)" in out and "-> same person" in out
    assert "astronaut vs cameraman" in out and "-> different people" in out
    assert (tmp_path / "demo.png").is_file()


def test_demo_twice_with_the_default_name_keeps_the_first_picture(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run("demo").stdout
    assert "-> faceprint-demo.png" in first
    before = (tmp_path / "faceprint-demo.png").read_bytes()
    second = run("demo").stdout
    assert "-> faceprint-demo-2.png" in second
    assert (tmp_path / "faceprint-demo.png").read_bytes() == before
    assert Image.open(tmp_path / "faceprint-demo-2.png").size[0] > 300


@pytest.mark.parametrize(
    "command",
    [
        ["demo", "--out", "{out}"],
        ["verify", "{img}", "{img}", "--annotate", "{out}"],
        ["eval", "lfw", "--plot", "{out}"],
    ],
)
def test_picture_paths_need_a_picture_suffix(run, multiface, tmp_path, command):
    out = tmp_path / "picture"
    args = [a.format(out=out, img=multiface) for a in command]
    result = run(*args, ok=False)
    assert result.exit_code == 2
    assert f"'{out}' needs a picture suffix: one of .png" in result.output
    assert not out.exists()


def test_embed_parquet(run, multiface, tmp_path):
    pytest.importorskip("pyarrow", reason="parquet output needs pyarrow (the parquet extra)")
    from faceprint.embeddings_io import read_embeddings

    run("embed", multiface, "--out", tmp_path / "e.parquet")
    table = read_embeddings(tmp_path / "e.parquet")
    assert len(table["path"]) == 6 and np.asarray(table["embedding"]).shape == (6, 128)
    assert str(table["model"]) == "ms-celeb-1m/box"


@pytest.mark.slow
@pytest.mark.slow
def test_eval_lfw_measures_a_pair_that_is_not_calibrated_yet(run, lfw, tmp_path):
    """The protocol sets its own thresholds, so a detector without a calibration is measured
    (how its calibration starts), where verify refuses it."""
    pairs = small_pairs_file(lfw, tmp_path / "pairs.txt")
    args = ("--data", lfw, "--pairs", pairs, "--detector", "mtcnn+centerface", "--json")
    d = json.loads(run("eval", "lfw", *args).stdout)
    assert d["accuracy"] >= 0.9 and d["missed_detections"] == 0


def test_eval_lfw_fixed_crop_of_chosen_size(run, lfw, tmp_path):
    pairs = small_pairs_file(lfw, tmp_path / "pairs.txt")
    d = json.loads(
        run(
            "eval",
            "lfw",
            "--data",
            lfw,
            "--pairs",
            pairs,
            "--align",
            "none",
            "--crop-size",
            "120",
            "--json",
        ).stdout
    )
    assert d["alignment"]["method"] == "none" and d["alignment"]["crop_size"] == 120
    assert d["missed_detections"] == 0 and d["accuracy"] >= 0.9
    result = run("eval", "lfw", "--data", lfw, "--pairs", pairs, "--crop-size", "120", ok=False)
    assert result.exit_code != 0 and "--crop-size goes with --align none" in result.output


@pytest.mark.slow
@pytest.mark.default_path
def test_verify_prints_how_often_strangers_come_this_close(run, lfw):
    a = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    c = lfw / "images" / "Abdullah_Gul" / "Abdullah_Gul_0001.jpg"
    d = json.loads(run("verify", a, c, "--json").stdout)
    # The default threshold accepts 1 in 1000 View 1 impostor pairs.
    assert d["threshold"] == pytest.approx(1.0005, abs=1e-4)
    assert d["same"] is False and d["false_accept_rate"] > 1e-3
    text = run("verify", a, c).stdout
    assert "set for 1 in 1,000 strangers" in text and "pairs of strangers come this close" in text
    loose = json.loads(run("verify", a, c, "--far", "0.5", "--json").stdout)
    assert loose["threshold"] > d["threshold"]
    fixed = json.loads(run("verify", a, c, "--threshold", "1.5", "--json").stdout)
    assert fixed["threshold"] == 1.5 and fixed["same"] is True


def test_verify_says_where_a_threshold_comes_from(run, lfw):
    a = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    c = lfw / "images" / "Abdullah_Gul" / "Abdullah_Gul_0001.jpg"
    # hse-faceres-id has an impostor distribution for its template crop only.
    text = run("verify", a, c, "--model", "hse-faceres-id", "--align", "box").stdout
    assert "threshold 1.2550, the most accurate on LFW View 1" in text
    assert "strangers come this close" not in text
    refused = run("verify", a, c, "--model", "hse-faceres-id", "--align", "dlib", ok=False)
    assert refused.exit_code == 2
    assert (
        "not calibrated for detector 'mtcnn' with align='dlib' (calibrated detector/alignment "
        "pairs: mtcnn/box, mtcnn/similarity)" in refused.output
    )
    assert "--threshold" in refused.output and "Traceback" not in refused.output
    # another detector's faces never borrow MTCNN's numbers: a pair without its own is refused
    refused = run("verify", a, c, "--detector", "mtcnn+centerface", "--align", "box", ok=False)
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "not calibrated for detector 'mtcnn+centerface' with align='box'" in refused.output
    assert "centerface/box, centerface/similarity" in refused.output


def test_embed_usage_errors_and_failures(run, lfw, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("embed", empty, "--out", tmp_path / "e.npz", ok=False)
    assert result.exit_code == 2 and "no image files in" in result.output
    result = run("embed", empty, "--out", tmp_path / "e.txt", ok=False)
    assert result.exit_code == 2 and "must end in .npz or .parquet" in result.output
    bad = tmp_path / "bad" / "broken.jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"\xff\xd8\xff garbage")
    result = run("embed", bad.parent, "--out", tmp_path / "b.npz", ok=False)
    assert result.exit_code == 1 and "1 of 1 images failed" in result.output
    assert result.output.count("broken.jpg") == 1, "the file is named once"
    with np.load(tmp_path / "b.npz") as f:
        assert f["embedding"].shape == (0, 128)
    faceless = tmp_path / "faceless.png"
    Image.new("RGB", (200, 200), (90, 120, 200)).save(faceless)
    photo = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    out = run("embed", faceless, photo, "--out", tmp_path / "ok.npz").stdout
    assert "1 faces from 2 images" in out and "1 images without a face" in out


def test_eval_lfw_bad_pairs_files_are_usage_errors(run, lfw, tmp_path):
    result = run("eval", "lfw", "--data", tmp_path, ok=False)
    assert result.exit_code == 2 and "no such pairs file" in result.output
    junk = tmp_path / "junk.txt"
    junk.write_text("this is not\na pairs file\n")
    result = run("eval", "lfw", "--data", lfw, "--pairs", junk, ok=False)
    assert result.exit_code == 2 and "not an LFW pairs file" in result.output


def test_cluster_writes_face_crops_and_refuses_an_empty_folder(run, lfw, multiface, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("cluster", empty, "--out", tmp_path / "c", ok=False)
    assert result.exit_code == 2 and not (tmp_path / "c").exists()
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in (1, 2, 3):
        (photos / f"powell_{i}.jpg").symlink_to(
            lfw / "images" / "Colin_Powell" / f"Colin_Powell_{i:04d}.jpg"
        )
    (photos / "group.jpg").symlink_to(multiface)
    run("cluster", photos, "--out", tmp_path / "sorted")
    crops = sorted(p.name for p in (tmp_path / "sorted").rglob("*.png"))
    # Three portraits (one subject each) and the six faces of the group photo, as crops.
    assert len(crops) == 9 and all(
        Image.open(p).size == (160, 160) for p in (tmp_path / "sorted").rglob("*.png")
    )
    assert len([c for c in crops if c.startswith("group_")]) == 6


def test_eval_lfw_on_a_view_1_file_cross_validates_within_it(run, lfw, tmp_path):
    lines = (lfw / "pairsDevTest.txt").read_text().splitlines()
    pairs = tmp_path / "dev.txt"
    pairs.write_text("\n".join(["20", *lines[1:11], *lines[501:511]]) + "\n")  # 10 same, 10 not
    d = json.loads(run("eval", "lfw", "--data", lfw, "--pairs", pairs, "--json").stdout)
    assert d["pairs"] == 20 and len(d["fold_accuracies"]) == 10 and d["accuracy"] >= 0.8


def test_every_command_and_option_has_help():
    import click

    missing = []

    def walk(command, path):
        if not (command.help or command.short_help):
            missing.append(path)
        missing.extend(
            f"{path} {p.opts[0]}"
            for p in command.params
            if isinstance(p, click.Option) and not p.help
        )
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(main, "faceprint")
    assert missing == []


@pytest.mark.parametrize("model", ["nope", "ms-celeb-1m+nope"])
def test_unknown_model_is_a_usage_error(run, portraits, model):
    result = run("verify", str(portraits[0]), str(portraits[1]), "--model", model, ok=False)
    assert result.exit_code == 2
    assert "known" in result.output and "ms-celeb-1m" in result.output
