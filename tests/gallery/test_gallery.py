"""Gallery: enrol, search, manage and exchange real faces; model safety; bad files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from faceprint import get_weights
from faceprint.errors import GalleryError, ModelMismatchError
from faceprint.gallery import UNKNOWN, Gallery
from faceprint.pipeline import FaceRecognizer

PEOPLE = ["Colin_Powell", "Tony_Blair", "Gerhard_Schroeder", "Donald_Rumsfeld"]


def photo(lfw, name, i):
    return lfw / "images" / name / f"{name}_{i:04d}.jpg"


@pytest.fixture(scope="module")
def recognizer():
    return FaceRecognizer(model="ms-celeb-1m")


@pytest.fixture()
def gallery(tmp_path, recognizer, lfw):
    g = Gallery(tmp_path / "people.gallery", recognizer=recognizer)
    for name in PEOPLE:
        report = g.add(name, [photo(lfw, name, 1), photo(lfw, name, 2)])
        assert len(report.added) == 2, report
    yield g
    g.close()


def test_identify_enrolled_people_from_new_photos(gallery, recognizer, lfw):
    queries = [photo(lfw, name, 5) for name in PEOPLE]
    answers = recognizer.identify(queries, gallery, k=3)
    for name, faces in zip(PEOPLE, answers, strict=True):
        assert len(faces) == 1
        face, ident = faces[0]
        assert ident.name == name and ident.distance < gallery.threshold
        assert [m.name for m in ident.matches][0] == name and len(ident.matches) == 3
        assert ident.matches[0].distance <= ident.matches[1].distance


def test_stranger_is_unknown(gallery, recognizer, lfw):
    ((_, ident),) = recognizer.identify(photo(lfw, "Abdullah_Gul", 1), gallery)
    assert ident.name == UNKNOWN and ident.distance >= gallery.threshold
    assert ident.matches and ident.matches[0].name in PEOPLE


def test_group_photo_answers_every_face(gallery, recognizer, multiface):
    faces = recognizer.identify(multiface, gallery)
    assert len(faces) == 6 and all(ident.name == UNKNOWN for _, ident in faces)


def test_reenrolment_is_skipped(gallery, lfw):
    report = gallery.add(
        "Colin_Powell", [photo(lfw, "Colin_Powell", 1), photo(lfw, "Colin_Powell", 3)]
    )
    assert report.skipped == [str(photo(lfw, "Colin_Powell", 1))] and len(report.added) == 1
    assert {i.name: i.faces for i in gallery.list()}["Colin_Powell"] == 3


def test_no_face_and_many_faces_are_rejected(gallery, multiface):
    import numpy as np
    from PIL import Image

    corner = np.asarray(Image.open(multiface).convert("RGB"))[:40, 1000:1200]
    report = gallery.add("Crowd", [multiface, corner])
    assert report.added == [] and len(report.rejected) == 2
    assert "6 faces of similar size" in report.rejected[str(multiface)]
    assert "ambiguous" in report.rejected[str(multiface)]
    assert report.ambiguous == [str(multiface)]
    assert "no face found" in report.rejected["image 1"]
    assert "Crowd" not in {i.name for i in gallery.list()}
    report = gallery.add("Crowd", multiface, faces="largest")
    assert len(report.added) == 1 and report.others_ignored == {str(multiface): 5}
    with pytest.raises(ValueError, match="faces must be 'dominant', 'largest' or 'strict'"):
        gallery.add("Crowd", multiface, faces="biggest")


def test_remove_and_rename(gallery, recognizer, lfw):
    gallery.rename("Tony_Blair", "Blair")
    ((_, ident),) = recognizer.identify(photo(lfw, "Tony_Blair", 7), gallery)
    assert ident.name == "Blair"
    assert gallery.remove("Blair") == 2
    ((_, ident),) = recognizer.identify(photo(lfw, "Tony_Blair", 7), gallery)
    assert ident.name == UNKNOWN
    with pytest.raises(GalleryError, match="no identity called 'Blair'"):
        gallery.remove("Blair")
    with pytest.raises(GalleryError, match="exists already"):
        gallery.rename("Colin_Powell", "Donald_Rumsfeld")


def test_persists_and_reopens(gallery, tmp_path, recognizer, lfw):
    gallery.close()
    assert (tmp_path / "people.gallery.faiss").is_file()
    with Gallery(tmp_path / "people.gallery") as again:
        assert len(again) == 8 and again.store.model == "ms-celeb-1m/box"
        ((_, ident),) = recognizer.identify(photo(lfw, "Donald_Rumsfeld", 4), again)
        assert ident.name == "Donald_Rumsfeld"


@pytest.mark.slow
def test_stale_index_is_rebuilt(gallery, tmp_path):
    gallery.close()
    # Another process adds a face and dies without closing: the saved FAISS index is stale.
    code = (
        "import os, numpy as np\n"
        "from faceprint.gallery import Gallery\n"
        f"g = Gallery({str(tmp_path / 'people.gallery')!r})\n"
        "v = np.zeros((1, 128), np.float32); v[0, 0] = 1\n"
        "g.add_embeddings('Someone', v)\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with Gallery(tmp_path / "people.gallery") as again:
        assert len(again) == 9 and len(again.index) == 9
        (ident,) = again.search(np.eye(1, 128, dtype=np.float32))
        assert ident.name == "Someone" and ident.distance < 1e-3


def test_export_import_roundtrip(gallery, tmp_path, recognizer, lfw):
    # numpy's savez appends ".npz"; export says which file it wrote.
    assert gallery.export(tmp_path / "out") == tmp_path / "out.npz"
    assert (tmp_path / "out.npz").is_file() and not (tmp_path / "out").exists()
    with Gallery(tmp_path / "copy.gallery", model="ms-celeb-1m") as copy:
        assert copy.import_(tmp_path / "out.npz") == 8
        assert copy.import_(tmp_path / "out.npz") == 0  # idempotent
        assert {i.name for i in copy.list()} == set(PEOPLE)
        ((_, ident),) = recognizer.identify(photo(lfw, "Gerhard_Schroeder", 3), copy)
        assert ident.name == "Gerhard_Schroeder"


def test_refuses_other_model(gallery, tmp_path):
    gallery.close()
    with pytest.raises(
        ModelMismatchError,
        match="holds ms-celeb-1m/box embeddings; it cannot take ms-celeb-1m/similarity",
    ):
        Gallery(tmp_path / "people.gallery", model="ms-celeb-1m", align="similarity")
    with Gallery(tmp_path / "people.gallery") as g:
        with pytest.raises(ModelMismatchError, match="embeddings of size 512"):
            g.add_embeddings("x", np.eye(1, 512, dtype=np.float32))
        with pytest.raises(ModelMismatchError, match="queries of size 512"):
            g.search(np.eye(1, 512, dtype=np.float32))
        with pytest.raises(ModelMismatchError):
            FaceRecognizer(model="ms-celeb-1m", align="similarity").identify(
                np.zeros((20, 20, 3), np.uint8), g
            )


def test_corrupt_and_foreign_files(tmp_path):
    junk = tmp_path / "junk.gallery"
    junk.write_bytes(b"definitely not a database" * 100)
    with pytest.raises(GalleryError, match="junk.gallery: not a faceprint gallery"):
        Gallery(junk)
    assert junk.read_bytes().startswith(b"definitely not"), "a refused file is left untouched"
    import sqlite3

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(GalleryError, match="a SQLite database, not a faceprint gallery"):
        Gallery(other)
    empty = tmp_path / "empty.gallery"
    empty.touch()
    with pytest.raises(GalleryError, match="an empty file, not a faceprint gallery; it was left"):
        Gallery(empty)
    assert empty.stat().st_size == 0, "a user's file is never turned into a gallery"
    with pytest.raises(GalleryError, match="no such gallery"):
        Gallery(tmp_path / "missing.gallery", create=False)


def test_empty_gallery_answers_unknown(tmp_path):
    with Gallery(tmp_path / "empty.gallery") as g:
        (ident,) = g.search(np.eye(1, 128, dtype=np.float32))
        assert ident.name == UNKNOWN and ident.matches == []


def _unit_vectors(count: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((count, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_open_set_threshold_tightens_as_people_are_enrolled(tmp_path):
    from faceprint.weights.calibration import open_set_threshold

    record = get_weights("ms-celeb-1m")
    impostors, exponent = record.impostor_distances["box"], record.open_set_exponent["box"]
    with Gallery(tmp_path / "g.gallery", far=0.01) as g:
        seen = []
        for count, vector in enumerate(_unit_vectors(300, seed=1), start=1):
            g.add_embeddings(f"person {count}", vector[None])
            if count in (1, 100, 300):
                seen.append(g.threshold)
                expected = open_set_threshold(impostors, 0.01, count, exponent)
                assert g.threshold == pytest.approx(expected)
        (ident,) = g.search(_unit_vectors(1, seed=2))
        assert ident.threshold == seen[-1]
    assert seen[0] > seen[1] > seen[2]
    assert seen[0] == pytest.approx(1.1259, abs=1e-4)  # one identity: the 1:1 rate at 1e-2
    with Gallery(tmp_path / "g.gallery", far=0.001) as stricter:
        assert stricter.threshold < seen[-1]


def test_a_fixed_threshold_overrides_the_open_set_one(tmp_path):
    with Gallery(tmp_path / "fixed.gallery", threshold=0.9) as g:
        g.add_embeddings("someone", _unit_vectors(1, seed=3))
        assert g.threshold == 0.9
    with Gallery(tmp_path / "fixed.gallery") as again:  # stored with the gallery
        assert again.threshold == 0.9
    with Gallery(tmp_path / "fixed.gallery", threshold=0.8) as given:  # --threshold
        assert given.threshold == 0.8


def test_remove_one_face_then_the_last(gallery):
    first, second = (f.id for f in gallery.faces("Tony_Blair"))
    removed = gallery.store.vectors([first])
    assert gallery.remove_face(first) == "Tony_Blair"
    assert [f.id for f in gallery.faces("Tony_Blair")] == [second]
    [ident] = gallery.search(removed, k=4)
    assert first not in [m.face_id for m in ident.matches]
    gallery.remove_face(second)
    assert "Tony_Blair" not in [i.name for i in gallery.list()]
    with pytest.raises(GalleryError, match=f"no face with id {second}"):
        gallery.remove_face(second)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../etc", "looks like a path"),
        ("a/b", "looks like a path"),
        ("..", "looks like a path"),
        ("back\\slash", "looks like a path"),
        ("line\nbreak", "control characters"),
        (" padded", "white space"),
        ("", "non-empty"),
        ("x" * 129, "at most 128"),
    ],
)
def test_identity_names_are_names_not_paths(gallery, name, why):
    vector = np.eye(1, gallery.store.dim, dtype=np.float32)
    with pytest.raises(GalleryError, match=why):
        gallery.add_embeddings(name, vector)
    with pytest.raises(GalleryError, match=why):
        gallery.rename("Colin_Powell", name)


def test_vectors_a_little_off_unit_length_are_normalised(tmp_path):
    """bf16 and int8 networks land up to 3e-3 off unit length; the gallery takes such vectors."""
    vectors = _unit_vectors(3, seed=5) * np.array([[0.997], [1.0024], [1.009]], np.float32)
    with Gallery(tmp_path / "g.gallery", rule="faces") as g:
        ids = g.add_embeddings("someone", vectors)
        stored = g.store.vectors(ids)
        np.testing.assert_allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-6)
        (ident,) = g.search(vectors[:1] * 1.008)
        assert ident.name == "someone" and ident.distance < 1e-3


@pytest.mark.parametrize(("scale", "shown"), [(0.5, "0.5"), (2.0, "2"), (np.nan, "nan")])
def test_vectors_far_off_unit_length_are_refused_saying_which(tmp_path, scale, shown):
    from faceprint.errors import EmbeddingError

    vectors = _unit_vectors(3, seed=6)
    vectors[1] *= scale
    with Gallery(tmp_path / "g.gallery") as g:
        with pytest.raises(EmbeddingError, match=rf"embeddings 1 \(1 of 3\) have length {shown},"):
            g.add_embeddings("someone", vectors)
        with pytest.raises(EmbeddingError, match=r"queries 1 \(1 of 3\)"):
            g.search(vectors)
        assert len(g) == 0


def test_importing_tampered_vectors_is_one_line_and_exit_1(gallery, tmp_path):
    from click.testing import CliRunner

    from faceprint.cli import main

    exported = gallery.export(tmp_path / "people.npz")
    with np.load(exported) as f:
        contents = dict(f)
    contents["embeddings"] = contents["embeddings"].copy()
    contents["embeddings"][-1] *= 3
    np.savez(tmp_path / "tampered.npz", **contents)
    target = tmp_path / "target.gallery"
    result = CliRunner().invoke(
        main, ["gallery", "import", str(target), str(tmp_path / "tampered.npz")]
    )
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert "tampered.npz: embeddings 7 (1 of 8) have length 3, not 1" in line
    with Gallery(target) as g:
        assert len(g) == 0  # nothing half-imported


def test_the_open_set_threshold_is_the_detectors_own(tmp_path):
    from faceprint.errors import UncalibratedError
    from faceprint.weights.calibration import open_set_threshold

    record = get_weights("ms-celeb-1m")

    def expected(detector: str) -> float:
        own = record.calibration(detector, "box")
        return open_set_threshold(own.impostor_distances, 0.01, 1, own.open_set_exponent)

    with Gallery(tmp_path / "g.gallery", detector="centerface", far=0.01) as g:
        g.add_embeddings("someone", _unit_vectors(1, seed=4))
        assert g.detector == "centerface"
        assert g.threshold == pytest.approx(expected("centerface"))
    with Gallery(tmp_path / "g.gallery", far=0.01) as g:  # MTCNN's faces by default
        assert g.detector == "mtcnn" and g.threshold == pytest.approx(expected("mtcnn"))
        assert g.threshold != pytest.approx(expected("centerface"))
    with pytest.raises(UncalibratedError, match="centerface/box"):
        Gallery(tmp_path / "g.gallery", detector="mtcnn+centerface")


@pytest.mark.slow
def test_a_gallery_follows_its_recognizers_detector(tmp_path, lfw):
    from faceprint.weights.calibration import open_set_threshold

    own = get_weights("ms-celeb-1m").calibration("centerface", "box")
    centerface = FaceRecognizer(detector="centerface", align="box")
    with Gallery(tmp_path / "c.gallery", recognizer=centerface, far=0.01) as g:
        g.add("Tony_Blair", [photo(lfw, "Tony_Blair", 1)])
        assert g.detector == "centerface"
        assert g.threshold == pytest.approx(
            open_set_threshold(own.impostor_distances, 0.01, 1, own.open_set_exponent)
        )
        ((_, ident),) = centerface.identify(photo(lfw, "Tony_Blair", 2), g)
        assert ident.name == "Tony_Blair" and ident.distance < g.threshold
    with Gallery(tmp_path / "c.gallery", far=0.01) as g:  # reopened for MTCNN, then given one
        assert g.detector == "mtcnn"
        g.recognizer = centerface
        assert g.detector == "centerface"
        assert g.threshold == pytest.approx(
            open_set_threshold(own.impostor_distances, 0.01, 1, own.open_set_exponent)
        )
