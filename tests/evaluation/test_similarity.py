"""`faceprint.similarity` and `faceprint similarity`: pairing, statistics, misses, pictures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from faceprint import FaceRecognizer
from faceprint.cli import main
from faceprint.evaluation.degradations import Degradation
from faceprint.evaluation.similarity import similarity
from faceprint.images import load_image

PEOPLE = ["Colin_Powell", "Tony_Blair", "George_W_Bush", "Gerhard_Schroeder", "Donald_Rumsfeld"]


@pytest.fixture(scope="module")
def recognizer():
    return FaceRecognizer()


@pytest.fixture(scope="module")
def sets(lfw, tmp_path_factory):
    """ref/<group>/<person>.jpg; other/<group>/<person>.png (their second photo), plus a
    truncated JPEG, a faceless picture and a name without a reference."""
    root = tmp_path_factory.mktemp("similarity")
    for i, person in enumerate(PEOPLE):
        group = "a" if i < 3 else "b"
        for folder, number, suffix in (("ref", 1, ".jpg"), ("other", 2, ".png")):
            (root / folder / group).mkdir(parents=True, exist_ok=True)
            photo = load_image(lfw / "images" / person / f"{person}_000{number}.jpg")
            photo.save(root / folder / group / f"{person}{suffix}")
    whole = (lfw / "images" / "Laura_Bush" / "Laura_Bush_0002.jpg").read_bytes()
    (root / "other" / "a" / "broken.jpg").write_bytes(whole[: len(whole) // 3])  # cut short
    Image.new("RGB", (250, 250), (120, 120, 120)).save(root / "other" / "b" / "wall.png")
    photo = load_image(lfw / "images" / "Laura_Bush" / "Laura_Bush_0001.jpg")
    photo.save(root / "other" / "b" / "Laura_Bush.png")
    return root


@pytest.mark.default_path
def test_pairs_by_relative_name_and_reports_every_miss(sets, recognizer):
    report = similarity(sets / "ref", sets / "other", recognizer=recognizer)
    assert report.paired and report.pairs == 5
    assert sorted(report.gen_names) == sorted(
        f"{'a' if i < 3 else 'b'}/{p}" for i, p in enumerate(PEOPLE)
    )
    assert report.gen_names == report.ref_names
    assert report.missed_gen["b/wall"] == "no face found"
    assert report.missed_gen["a/broken"].startswith("unreadable: ")
    assert "corrupt or truncated" in report.missed_gen["a/broken"]
    assert report.unpaired_gen == ["b/Laura_Bush"] and report.unpaired_ref == []
    # Another photo of the same person: similar, verified, and nearest to its own reference.
    assert report.similarity.min() > 0.5 and report.similarity.max() < 0.95
    assert report.preserved.all() and report.id_retrieval_top1 == 1.0
    np.testing.assert_allclose(report.distance, np.sqrt(2 - 2 * report.similarity), atol=1e-5)
    d = report.summary()
    assert d["pairs"] == 5 and d["missed_gen"]["count"] == 2
    assert d["mean"] == pytest.approx(float(report.similarity.mean()), abs=1e-6)
    assert d["median"] == pytest.approx(float(np.median(report.similarity)), abs=1e-6)
    assert d["model"] == "ms-celeb-1m/box" and d["threshold"] == recognizer.threshold
    # The matrix holds every generated face (with a face) against every reference face.
    assert report.matrix.shape == (6, 5)
    assert report.matrix_rows[0] == "a/Colin_Powell" and "b/Laura_Bush" in report.matrix_rows


def test_names_that_do_not_pair_score_every_face_against_every_face(sets, recognizer, lfw):
    one = lfw / "images" / "Colin_Powell" / "Colin_Powell_0002.jpg"
    report = similarity(sets / "ref", one, recognizer=recognizer)
    assert not report.paired and report.pairs == 5 and report.id_retrieval_top1 is None
    assert report.ref_names[int(report.similarity.argmax())] == "a/Colin_Powell"
    assert report.preserved.sum() == 1
    forced = similarity(sets / "ref", sets / "other", recognizer=recognizer, all_pairs=True)
    assert forced.pairs == 6 * 5 and not forced.paired


def test_spoiling_a_photo_lowers_its_similarity_step_by_step(sets, recognizer, tmp_path):
    ladder = [Degradation("blur", s) for s in (1, 4)] + [Degradation("jpeg", q) for q in (50, 5)]
    gens = []
    for degradation in ladder:
        folder = tmp_path / degradation.name
        for path in (sets / "ref").rglob("*.jpg"):
            out = folder / path.relative_to(sets / "ref").with_suffix(".png")
            out.parent.mkdir(parents=True, exist_ok=True)
            degradation.apply(load_image(path)).save(out)
        gens.append(folder)
    means = [r.similarity.mean() for r in similarity(sets / "ref", gens, recognizer=recognizer)]
    assert 1.0 > means[0] > means[1]  # blur sigma 1, then 4
    assert 1.0 > means[2] > means[3]  # JPEG quality 50, then 5


def test_identity_loss_measures_what_the_report_says(sets, recognizer):
    """One code path: the loss on the report's own crops gives the report's similarity."""
    from faceprint.losses import IdentityLoss

    report = similarity(sets / "ref", sets / "other", recognizer=recognizer)
    loss = IdentityLoss(reduction="none")

    def crop(faces, name):
        i = faces.index()[name]
        image = load_image(faces.paths[i])
        pixels = np.asarray(recognizer.crop(image, faces.boxes[i], faces.landmarks[i]))
        return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 127.5 - 1

    gen = torch.stack([crop(report.gen_faces, n) for n in report.gen_names])
    ref = torch.stack([crop(report.ref_faces, n) for n in report.ref_names])
    np.testing.assert_allclose(1 - loss(gen, ref).numpy(), report.similarity, atol=1e-4)


def _run(*args, code=0):
    result = CliRunner().invoke(main, ["similarity", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.mark.slow
def test_command_table_files_and_exit_1_for_an_unreadable_image(sets, tmp_path):
    out = tmp_path / "out"
    result = _run(sets / "ref", sets / "other", sets / "ref", "--out", out, "--worst", 3, code=1)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ms-celeb-1m/box: same person below distance")
    other = next(line.split() for line in lines if line.startswith("other"))
    assert other[1:3] == ["name", "5"] and other[-1] == "2"  # pairing, pairs, missed
    itself = next(line.split() for line in lines if line.startswith("ref "))
    assert itself[3] == "1.000" and itself[8:10] == ["1.000", "1.000"]
    assert "a/broken.jpg: cannot decode image" in result.stderr
    assert "other: 2 without a face or unreadable: a/broken, b/wall" in result.stderr
    assert "other: 1 no reference of that name: b/Laura_Bush" in result.stderr
    assert "1 of 18 inputs failed" in result.stderr
    csv_lines = (out / "pairs.csv").read_text().splitlines()
    assert csv_lines[0] == "gen_set,gen,ref,similarity,distance,preserved,retrieved,missed"
    assert sum(line.startswith("other,") for line in csv_lines) == 5 + 2 + 1
    assert any(line.startswith("other,b/wall,,") and "no face found" in line for line in csv_lines)
    for folder in (out / "other", out / "ref"):
        assert np.load(folder / "matrix.npy").shape[1] == 5
        names = json.loads((folder / "matrix_names.json").read_text())
        assert len(names["columns"]) == 5
        with Image.open(folder / "worst.png") as sheet:
            assert sheet.height > 3 * 128  # three pairs
        with Image.open(folder / "heatmap.png") as heatmap:
            assert min(heatmap.size) > 300
    with Image.open(out / "histogram.png") as histogram:
        assert histogram.size[0] > 500


@pytest.mark.default_path
def test_command_json_is_one_object_per_gen(sets, lfw):
    result = _run(sets / "ref", sets / "ref", "--json")
    (line,) = result.stdout.splitlines()
    d = json.loads(line)
    assert d["pairs"] == 5 and d["mean"] == pytest.approx(1.0, abs=1e-5)
    assert d["preserved_rate"] == 1.0 and d["id_retrieval_top1"] == 1.0
    assert d["missed_ref"] == {"count": 0, "names": {}}


def test_an_empty_gen_folder_fails_alone_and_an_empty_ref_is_a_usage_error(sets, tmp_path):
    (tmp_path / "empty").mkdir()
    result = _run(sets / "ref", tmp_path / "empty", sets / "ref", code=1)
    assert "empty: no image files" in result.stderr
    assert any(line.startswith("ref ") for line in result.stdout.splitlines())
    result = _run(tmp_path / "empty", sets / "ref", code=2)
    assert "no image files" in result.output
