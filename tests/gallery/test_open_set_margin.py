"""The margin open-set decision: named people, strangers, its threshold and its fallbacks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceprint.errors import UncalibratedError
from faceprint.gallery import UNKNOWN, Gallery
from faceprint.pipeline import FaceRecognizer
from faceprint.weights.calibration import MARGIN_FARS, MARGIN_SIZES, margin_threshold
from tests.gallery.test_gallery import PEOPLE, photo


@pytest.fixture(scope="module")
def recognizer():
    return FaceRecognizer(model="ms-celeb-1m")


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, recognizer, lfw):
    path = tmp_path_factory.mktemp("margin") / "people.gallery"
    with Gallery(path, recognizer=recognizer) as g:
        for name in PEOPLE:
            assert len(g.add(name, [photo(lfw, name, 1), photo(lfw, name, 2)]).added) == 2
    return path


def test_new_photos_are_named_and_a_stranger_is_not(enrolled, recognizer, lfw):
    with Gallery(enrolled, recognizer=recognizer, open_set="margin") as g:
        threshold = g.margin_threshold
        table = g._margin.thresholds
        # 4 people: the table's smallest gallery (10), at FAR 1%.
        assert threshold == pytest.approx(table[0][MARGIN_FARS.index(0.01)])
        queries = [photo(lfw, name, 5) for name in PEOPLE] + [photo(lfw, "Abdullah_Gul", 1)]
        answers = [ident for faces in recognizer.identify(queries, g, k=2) for _, ident in faces]
    for name, ident in zip(PEOPLE, answers, strict=False):
        d1, d2 = (m.distance for m in ident.matches)
        assert ident.name == name and ident.threshold == threshold
        assert ident.score == pytest.approx(d1 - 0.5 * d2) and ident.score < threshold
    stranger = answers[-1]
    assert stranger.name == UNKNOWN and stranger.score >= threshold
    assert stranger.matches[0].name in PEOPLE


def test_one_face_under_both_decisions(recognizer, lfw, tmp_path):
    """One gallery file, opened with either decision: the same nearest person, a margin score
    only under the margin."""
    with Gallery(tmp_path / "g.gallery", recognizer=recognizer, far=0.001) as g:
        for name in PEOPLE:
            g.add(name, [photo(lfw, name, 1)])
        by_distance = g.search(recognizer.embed(photo(lfw, "Tony_Blair", 9))[0].embedding)[0]
    with Gallery(tmp_path / "g.gallery", recognizer=recognizer, far=0.001, open_set="margin") as g:
        by_margin = g.search(recognizer.embed(photo(lfw, "Tony_Blair", 9))[0].embedding)[0]
    assert by_distance.matches[0].name == by_margin.matches[0].name == "Tony_Blair"
    assert by_margin.name == "Tony_Blair" and by_margin.score < by_margin.threshold
    assert by_distance.score is None


def test_a_gallery_of_one_is_decided_by_distance(recognizer, lfw, tmp_path):
    with Gallery(tmp_path / "one.gallery", recognizer=recognizer, open_set="margin") as g:
        g.add("Tony_Blair", [photo(lfw, "Tony_Blair", 1)])
        (ident,) = g.search(recognizer.embed(photo(lfw, "Tony_Blair", 5))[0].embedding)
        assert ident.name == "Tony_Blair" and ident.score is None
        assert ident.threshold == g.threshold


def test_margin_needs_a_calibrated_model_and_a_known_name(tmp_path):
    with pytest.raises(UncalibratedError, match="no open-set margin calibration.*dlib"):
        Gallery(tmp_path / "d.gallery", model="dlib-resnet-v1", open_set="margin")
    with pytest.raises(ValueError, match="open_set must be one of distance, margin"):
        Gallery(tmp_path / "x.gallery", open_set="ratio")


def test_identify_open_set_margin_in_json(enrolled, lfw, run):
    result = run(
        "identify",
        "--gallery",
        enrolled,
        "--open-set",
        "margin",
        "--json",
        photo(lfw, "Colin_Powell", 5),
    )
    [entry] = json.loads(result.output)
    [face] = entry["faces"]
    assert face["identity"] == "Colin_Powell" and face["margin"] < face["distance"]
    bad = run(
        "identify",
        "--gallery",
        enrolled,
        "--open-set",
        "ratio",
        photo(lfw, "Colin_Powell", 5),
        ok=False,
    )
    assert bad.exit_code == 2 and "'ratio' is not one of 'distance', 'margin'" in bad.output


def test_the_margin_table_is_read_between_and_beyond_its_sizes():
    table = [
        [0.4 - 0.02 * i + 0.05 * j for j in range(len(MARGIN_FARS))]
        for i in range(len(MARGIN_SIZES))
    ]
    k = MARGIN_FARS.index(0.01)
    assert margin_threshold(table, 0.01, 100) == pytest.approx(table[2][k])
    between = margin_threshold(table, 0.01, 170)
    assert table[3][k] < between < table[2][k]
    assert margin_threshold(table, 0.01, 2) == pytest.approx(table[0][k])
    assert margin_threshold(table, 0.01, 4000) < table[-1][k]  # goes on falling
    assert margin_threshold(table, 1e-6, 100) == pytest.approx(table[2][0])  # far clamped
    assert np.isfinite(margin_threshold(table, 0.02, 1680))
    with pytest.raises(ValueError, match="expected a 6 x 5 table"):
        margin_threshold([[0.3]], 0.01, 10)
