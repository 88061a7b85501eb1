"""Corrections and people as templates: negatives ("not this person") and confirmations through
the Python API and the command line, kept across reopening, processes, export and import; the
outlier warning at enrolment; faces of one photo named jointly."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from faceprint.cli import main
from faceprint.errors import GalleryError
from faceprint.gallery import UNKNOWN, Gallery
from faceprint.gallery.core import NEGATIVE_RADIUS, unit_template
from faceprint.gallery.store import SCHEMA_VERSION


def unit(count: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((count, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def at_distance(v: np.ndarray, distance: float, seed: int) -> np.ndarray:
    """A unit vector at exactly this L2 distance from unit ``v``."""
    u = unit(1, seed)[0]
    u -= np.dot(u, v) * v
    u /= np.linalg.norm(u)
    angle = 2 * np.arcsin(distance / 2)
    return (np.cos(angle) * v + np.sin(angle) * u).astype(np.float32)


def test_a_negative_rules_out_the_face_and_near_duplicates_only(tmp_path):
    v = unit(2, 0)
    wrongly = at_distance(v[0], 0.6, 1)  # a stranger's face the gallery calls alice
    near_duplicate = at_distance(wrongly, NEGATIVE_RADIUS * 0.6, 2)
    path = tmp_path / "g.gallery"
    with Gallery(path, model="ms-celeb-1m") as g:
        g.add_embeddings("alice", v[:1])
        g.add_embeddings("bob", v[1:])
        assert g.search(wrongly)[0].name == "alice"
        g.add_negative("alice", wrongly, "stranger.jpg")
        assert g.search(wrongly)[0].name == UNKNOWN
        assert "alice" not in [m.name for m in g.search(wrongly, k=2)[0].matches]
        assert g.search(near_duplicate)[0].name == UNKNOWN
        assert g.search(v[0])[0].name == "alice"  # alice's own face is 0.6 away: still hers
    with Gallery(path) as reopened:
        (negative,) = reopened.negatives()
        assert (negative.identity, negative.source) == ("alice", "stranger.jpg")
        assert reopened.search(wrongly)[0].name == UNKNOWN


def test_a_negative_reaches_another_open_gallery_through_the_change_log(tmp_path):
    v = unit(1, 0)
    face = at_distance(v[0], 0.5, 3)
    path = tmp_path / "g.gallery"
    with Gallery(path, model="ms-celeb-1m") as writer, Gallery(path) as reader:
        writer.add_embeddings("alice", v)
        assert reader.search(face)[0].name == "alice"  # the reader's negatives are read now
        writer.add_negative("alice", face)
        assert reader.search(face)[0].name == UNKNOWN
        writer.rename("alice", "ada")  # the negative follows the person
        assert reader.search(face)[0].name == UNKNOWN
        assert [n.identity for n in reader.negatives()] == ["ada"]


def test_a_negative_of_a_bad_or_foreign_embedding_is_refused(tmp_path):
    with Gallery(tmp_path / "g.gallery", model="ms-celeb-1m") as g:
        with pytest.raises(GalleryError, match="not 1"):
            g.add_negative("alice", np.ones(128, np.float32))
        with pytest.raises(GalleryError, match="one 128-d embedding"):
            g.add_negative("alice", unit(1, 0)[0, :64] / np.linalg.norm(unit(1, 0)[0, :64]))
        with pytest.raises(GalleryError, match="looks like a path"):
            g.add_negative("a/b", unit(1, 0)[0])


def test_a_schema_2_gallery_gains_the_negatives_table(tmp_path):
    path = tmp_path / "old.gallery"
    v = unit(1, 0)
    with Gallery(path, model="ms-celeb-1m") as g:
        g.add_embeddings("alice", v)
    db = sqlite3.connect(path)
    for statement in (
        "DROP TRIGGER negatives_added",
        "DROP TRIGGER negatives_removed",
        "DROP TABLE negatives",
        "UPDATE meta SET value='2' WHERE key='schema'",
    ):
        db.execute(statement)
    db.commit()
    db.close()
    with Gallery(path) as g:
        assert g.store.meta("schema") == str(SCHEMA_VERSION) == "3"
        assert g.search(v)[0].name == "alice"
        g.add_negative("alice", at_distance(v[0], 0.3, 1))
        assert g.search(v)[0].name == UNKNOWN


def test_export_and_import_carry_negatives_once(tmp_path):
    v = unit(2, 0)
    face = at_distance(v[0], 0.6, 5)
    with Gallery(tmp_path / "a.gallery", model="ms-celeb-1m") as g:
        g.add_embeddings("alice", v[:1])
        g.add_negative("alice", face, "stranger.jpg")
        exported = g.export(tmp_path / "a.npz")
    with Gallery(tmp_path / "b.gallery", model="ms-celeb-1m") as g:
        assert g.import_(exported) == 1
        assert g.import_(exported) == 0
        assert [(n.identity, n.source) for n in g.negatives()] == [("alice", "stranger.jpg")]
        assert g.search(face)[0].name == UNKNOWN
        assert g.search(v[0])[0].name == "alice"


def test_templates_are_weighted_means_and_the_rule_is_reported(tmp_path):
    v = unit(3, 0)
    with Gallery(tmp_path / "g.gallery", model="ms-celeb-1m", rule="template") as g:
        g.add_embeddings("alice", v[:2], metadata=[{"quality": 1.0}, {"quality": 0.25}])
        expected = v[0] + 0.25 * v[1]
        np.testing.assert_allclose(g.template("alice"), expected / np.linalg.norm(expected), 1e-6)
        (answer,) = g.search(g.template("alice"))
        assert answer.rule == "template" and answer.distance == pytest.approx(0, abs=1e-3)
    np.testing.assert_allclose(unit_template(v[:1]), v[0], atol=1e-7)
    with pytest.raises(ValueError, match="rule must be one of faces, template, mix"):
        Gallery(tmp_path / "h.gallery", model="ms-celeb-1m", rule="best")


def test_faces_of_one_photo_never_get_the_same_name(tmp_path):
    v = unit(2, 0)
    closer, farther = at_distance(v[0], 0.3, 1), at_distance(v[0], 0.5, 2)
    with Gallery(tmp_path / "g.gallery", model="ms-celeb-1m") as g:
        g.add_embeddings("alice", v[:1])
        g.add_embeddings("bob", v[1:])
        queries = np.stack([farther, closer])
        assert [a.name for a in g.search(queries)] == ["alice", "alice"]
        joint = g.search(queries, k=2, joint=True)
        assert [a.name for a in joint] == [UNKNOWN, "alice"]
        assert joint[0].matches[0].name == "alice"  # still its nearest candidate


def test_outlier_distance_marks_a_photo_of_someone_else(tmp_path):
    v = unit(2, 0)
    with Gallery(tmp_path / "g.gallery", model="ms-celeb-1m") as g:
        assert g.outlier_distance("alice", v[0]) is None  # nobody to compare with yet
        g.add_embeddings("alice", v[:1])
        assert g.outlier_distance("alice", at_distance(v[0], 0.5, 1)) is None
        far = g.outlier_distance("alice", v[1])
        assert far is not None and far > g.outlier_threshold > 0.5


# -- on real photos ----------------------------------------------------------------------------


def run(*args, code=0):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def photo(lfw, name: str, number: int):
    return lfw / "images" / name / f"{name}_{number:04d}.jpg"


def named(gallery, image) -> list[str]:
    (answer,) = json.loads(run("identify", "--gallery", gallery, image, "--json").stdout)
    return [f["identity"] for f in answer["faces"]]


@pytest.mark.slow
def test_reject_and_confirm_through_the_cli_survive_reopen_export_and_import(lfw, tmp_path):
    g = tmp_path / "g.gallery"
    run("enroll", "--gallery", g, "Tony_Blair", photo(lfw, "Tony_Blair", 1))
    run("enroll", "--gallery", g, "Colin_Powell", photo(lfw, "Colin_Powell", 1))
    wrong = photo(lfw, "Tony_Blair", 2)
    assert named(g, wrong) == ["Tony_Blair"]
    said = run("gallery", "reject", "--gallery", g, wrong, "--not", "Tony_Blair").stdout
    assert "is not Tony_Blair (negative 1)" in said
    # Every command opens the gallery anew: the negative is in the file.
    assert "Tony_Blair" not in named(g, wrong)
    resaved = tmp_path / "resaved.jpg"  # a near-duplicate: smaller, recompressed
    Image.open(wrong).resize((200, 200)).save(resaved, quality=60)
    assert "Tony_Blair" not in named(g, resaved)
    assert named(g, photo(lfw, "Tony_Blair", 3)) == ["Tony_Blair"]  # another photo of him

    said = run("gallery", "confirm", "--gallery", g, photo(lfw, "Tony_Blair", 4), "Tony_Blair")
    assert "is Tony_Blair (added as face 3)" in said.stdout
    again = run("gallery", "confirm", "--gallery", g, photo(lfw, "Tony_Blair", 4), "Tony_Blair")
    assert "(enrolled before)" in again.stdout
    listing = json.loads(run("gallery", "list", g, "--json").stdout)
    assert {r["name"]: r["faces"] for r in listing} == {"Colin_Powell": 1, "Tony_Blair": 2}

    run("gallery", "export", g, tmp_path / "g.npz")
    copy = tmp_path / "copy.gallery"
    run("gallery", "import", copy, tmp_path / "g.npz")
    assert "Tony_Blair" not in named(copy, wrong)
    assert named(copy, photo(lfw, "Tony_Blair", 3)) == ["Tony_Blair"]

    nobody = run("gallery", "reject", "--gallery", g, wrong, "--not", "Nobody", code=1)
    assert "error:" in nobody.output and "no identity called 'Nobody'" in nobody.output
    missing = run("gallery", "reject", "--gallery", g, wrong, code=2)
    assert "--not" in missing.output
    absent = run("gallery", "confirm", "--gallery", tmp_path / "none.gallery", wrong, "X", code=2)
    assert "no such gallery" in absent.output


@pytest.mark.slow
def test_enrolling_someone_else_warns_naming_the_photo_and_distance(lfw, tmp_path):
    g = tmp_path / "g.gallery"
    photos = [photo(lfw, "Tony_Blair", i) for i in (1, 2)] + [photo(lfw, "Colin_Powell", 1)]
    result = run("enroll", "--gallery", g, "Tony_Blair", *photos)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    prefix = f"warning: {photos[2]}: photo 3 of Tony_Blair looks like someone else: distance "
    assert warnings[0].startswith(prefix)
    with Gallery(g) as gallery:
        distance = float(warnings[0].removeprefix(prefix))
        assert distance > gallery.outlier_threshold
        report = gallery.add("Tony_Blair", photo(lfw, "Gerhard_Schroeder", 1))
        (message,) = report.outliers.values()
        assert message.startswith("photo 4 of Tony_Blair looks like someone else: distance ")
        assert report.added == [str(photo(lfw, "Gerhard_Schroeder", 1))]  # warned, enrolled


@pytest.mark.slow
def test_a_composite_of_one_person_twice_names_only_one_face(lfw, tmp_path):
    """Two photos of Colin Powell side by side: both faces are nearest to him, but one photo
    holds one Colin Powell."""
    composite = Image.new("RGB", (500, 250))
    composite.paste(Image.open(photo(lfw, "Colin_Powell", 2)), (0, 0))
    composite.paste(Image.open(photo(lfw, "Colin_Powell", 3)), (250, 0))
    with Gallery(tmp_path / "g.gallery", model="ms-celeb-1m") as g:
        g.add("Colin_Powell", photo(lfw, "Colin_Powell", 1))
        g.add("Tony_Blair", photo(lfw, "Tony_Blair", 1))
        found = g.recognizer.identify(composite, g)
        embeddings = np.stack([face.embedding for face, _ in found])
        alone = [a.name for a in g.search(embeddings)]
        assert alone.count("Colin_Powell") >= 2, "both faces are close enough to be him"
        names = [who.name for _, who in found]
        assert names.count("Colin_Powell") == 1
        assert set(names) == {"Colin_Powell", UNKNOWN}
        # The face given the name is the one closer to him.
        given = next(who for _, who in found if who.name == "Colin_Powell")
        assert given.distance == min(a.distance for a in g.search(embeddings))


def test_negatives_in_postgresql_reach_replicas_and_a_schema_2_database_gains_them(postgres):
    url = postgres.new_database()
    v = unit(1, 0)
    face = at_distance(v[0], 0.6, 7)
    with Gallery(url, model="ms-celeb-1m") as writer, Gallery(url) as reader:
        writer.add_embeddings("alice", v)
        assert reader.search(face)[0].name == "alice"
        writer.add_negative("alice", face, "stranger.jpg")
        assert reader.search(face)[0].name == UNKNOWN
        writer.rename("alice", "ada")
        assert [n.identity for n in reader.negatives()] == ["ada"]
        assert reader.search(v)[0].name == "ada"
        # Back to schema 2, as a gallery made before negatives.
        for statement in (
            "DROP TABLE faceprint.negatives",
            "DROP FUNCTION faceprint.log_negative",
            "UPDATE faceprint.meta SET value='2' WHERE key='schema'",
        ):
            writer.store.db.execute(statement)
    with Gallery(url) as reopened:
        assert reopened.store.meta("schema") == "3"
        assert reopened.negatives() == []
        reopened.add_negative("ada", face)
        assert reopened.search(face)[0].name == UNKNOWN
