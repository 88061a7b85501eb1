"""The pairs protocol end to end on real LFW pairs, its files and its cache."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.evaluation.verification import (
    eval_cache_dir,
    evaluate,
    evaluate_all_pairs,
    folder_pairs,
    read_lfw_pairs,
)
from faceprint.pipeline import FaceRecognizer


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEPRINT_EVAL_CACHE", str(tmp_path / "eval-cache"))


def small_pairs_file(lfw, path, per_kind=12):
    """2 folds of ``per_kind`` same + ``per_kind`` different pairs, taken from pairs.txt folds
    1-2."""
    lines = (lfw / "pairs.txt").read_text().splitlines()[1:]
    body = []
    for fold in range(2):
        start = fold * 600
        body += lines[start : start + per_kind] + lines[start + 300 : start + 300 + per_kind]
    path.write_text(f"2\t{per_kind}\n" + "\n".join(body) + "\n")
    return path


def test_read_view2_and_view1(lfw):
    view2 = read_lfw_pairs(lfw / "pairs.txt", lfw / "images")
    assert len(view2) == 6000 and view2.same.sum() == 3000
    assert np.bincount(view2.folds).tolist() == [600] * 10
    assert len(view2.images()) == 7701
    assert view2.same[:300].all() and not view2.same[300:600].any()
    view1 = read_lfw_pairs(lfw / "pairsDevTrain.txt", lfw / "images")
    # One set, cross-validated in 10 interleaved folds of 110 same and 110 different pairs.
    assert len(view1) == 2200 and np.bincount(view1.folds).tolist() == [220] * 10
    assert all(view1.same[view1.folds == k].sum() == 110 for k in range(10))


def test_missing_images_are_named(lfw, tmp_path):
    bad = tmp_path / "pairs.txt"
    bad.write_text("1\t1\nNobody_Here\t1\t2\nAlso_Nobody\t1\tNobody_Here\t3\n")
    with pytest.raises(
        FileNotFoundError, match=r"4 images of .*pairs.txt are missing, e.g. .*Also_Nobody_0001.jpg"
    ):
        read_lfw_pairs(bad, lfw / "images")


@pytest.mark.slow
def test_evaluate_small_protocol_and_cache(lfw, tmp_path):
    pairs = read_lfw_pairs(small_pairs_file(lfw, tmp_path / "pairs.txt"), lfw / "images")
    recognizer = FaceRecognizer(model="ms-celeb-1m")
    first = evaluate(recognizer, pairs, progress=False)
    d = first.to_dict()
    assert d["pairs"] == 48 and d["images"] == len(pairs.images())
    assert d["accuracy"] >= 0.9 and d["auc"] >= 0.95
    assert len(d["fold_accuracies"]) == 2
    assert len(list(eval_cache_dir().glob("*.npz"))) == 2  # detections and embeddings
    again = evaluate(recognizer, pairs, progress=False)
    assert again.to_dict()["accuracy"] == d["accuracy"]
    assert again.seconds < first.seconds / 3


def test_folder_pairs(lfw, tmp_path):
    for name in ("Colin_Powell", "Tony_Blair", "Abdullah_Gul"):
        (tmp_path / name).mkdir()
        for src in sorted((lfw / "images" / name).glob("*.jpg"))[:4]:
            (tmp_path / name / src.name).symlink_to(src)
    pairs = folder_pairs(tmp_path, pairs_per_kind=10, n_folds=5)
    assert len(pairs) == 20 and pairs.same.sum() == 10
    assert all(
        a.parent.name == b.parent.name
        for a, b, s in zip(pairs.a, pairs.b, pairs.same, strict=True)
        if s
    )
    assert all(
        a.parent.name != b.parent.name
        for a, b, s in zip(pairs.a, pairs.b, pairs.same, strict=True)
        if not s
    )
    report = evaluate(FaceRecognizer(model="ms-celeb-1m"), pairs, progress=False)
    assert report.metrics.accuracy >= 0.85


@pytest.mark.slow
def test_all_pairs_protocol_counts_every_pair_against_a_brute_force(lfw, tmp_path):
    test = read_lfw_pairs(small_pairs_file(lfw, tmp_path / "test.txt", per_kind=6), lfw / "images")
    calibration = read_lfw_pairs(small_pairs_file(lfw, tmp_path / "cal.txt"), lfw / "images")
    recognizer = FaceRecognizer(model="ms-celeb-1m")
    report = evaluate_all_pairs(recognizer, test, calibration, fars=(0.05, 0.2), progress=False)
    from faceprint.evaluation.verification import primary_embeddings

    paths = test.images()
    emb = primary_embeddings(recognizer, paths, progress=False)
    people = np.array([p.parent.name for p in paths])
    i, j = np.triu_indices(len(paths), k=1)
    distances = np.linalg.norm(emb[i] - emb[j], axis=1)
    same = people[i] == people[j]
    assert (report.genuine_pairs, report.impostor_pairs) == (same.sum(), (~same).sum())
    assert report.images == len(paths) and report.calibration_images == len(calibration.images())
    for row in report.rows:
        assert row["tar"] == pytest.approx(np.mean(distances[same] < row["threshold"]), abs=1e-9)
        assert row["realized_far"] == pytest.approx(np.mean(distances[~same] < row["threshold"]))
    assert report.rows[0]["threshold"] < report.rows[1]["threshold"]
