"""Rows from another detector: CenterFace's detections fill the same columns, the 10 landmark
floats in the same layout (x, y of the left eye, right eye, nose, left and right mouth
corner)."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint import FaceRecognizer
from faceprint.batch.rows import embed_rows, read_input, rows_to_table


@pytest.fixture(scope="module")
def centerface_recognizer():
    # CenterFace's scores sit on its own scale (0.35..0.95), below MTCNN's 0.98 face filter.
    return FaceRecognizer(detector="centerface", min_probability=0.5)


@pytest.mark.slow
def test_rows_hold_centerface_detections_in_the_landmark_layout(
    centerface_recognizer, multiface, lfw
):
    paths = [str(multiface), str(lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg")]
    rows = embed_rows(centerface_recognizer, paths, [read_input(p) for p in paths])
    found = centerface_recognizer.detector.detect_batch(paths)
    assert [len(d) for d in found] == [6, 1]
    assert [r["path"] for r in rows] == [paths[0]] * 6 + [paths[1]]
    for path, detections in zip(paths, found, strict=True):
        mine = [r for r in rows if r["path"] == path]
        by_box = {tuple(np.float32(r["box"])): r for r in mine}
        triples = zip(detections.boxes, detections.scores, detections.landmarks, strict=True)
        for box, score, points in triples:
            row = by_box[tuple(box)]
            assert row["probability"] == pytest.approx(float(score), abs=1e-6)
            assert np.array_equal(np.float32(row["landmarks"]), points.ravel())
            xy = np.reshape(row["landmarks"], (5, 2))
            assert xy[0, 0] < xy[1, 0] and xy[3, 0] < xy[4, 0]  # left eye/mouth on the left
            assert xy[:2, 1].max() < xy[2, 1] < xy[3:, 1].min()  # eyes, nose, mouth downwards
    table = rows_to_table(rows, centerface_recognizer.embedding_size)
    assert table.num_rows == 7 and table.column("landmarks").type.list_size == 10
