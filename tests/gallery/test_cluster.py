"""Clustering real faces of unlabeled photos by person."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from faceprint.cli import main
from faceprint.gallery import cluster_embeddings
from faceprint.pipeline import FaceRecognizer

PEOPLE = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld"]


def test_cluster_embeddings_groups_people(lfw):
    paths = [lfw / "images" / n / f"{n}_{i:04d}.jpg" for n in PEOPLE for i in range(1, 6)]
    recognizer = FaceRecognizer(model="ms-celeb-1m")
    emb = np.stack([faces[0].embedding for faces in recognizer.embed(paths)])
    truth = np.repeat(np.arange(3), 5)
    labels = cluster_embeddings(emb)
    # HDBSCAN: each person is one cluster, no cluster mixes people.
    for label in set(labels) - {-1}:
        assert len(set(truth[labels == label])) == 1
    assert len(set(labels) - {-1}) == 3 and (labels == -1).sum() <= 2
    # DBSCAN at the LFW-accuracy threshold (1.106) chains people together, as the docstring warns.
    chained = cluster_embeddings(emb, eps=recognizer.weights.thresholds["box"])
    assert len(set(chained) - {-1}) < 3


@pytest.mark.slow
def test_cluster_command_writes_folders_and_csv(lfw, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in PEOPLE[:2]:
        for i in range(1, 5):
            src = lfw / "images" / n / f"{n}_{i:04d}.jpg"
            (photos / src.name).symlink_to(src)
    runner = CliRunner()
    result = runner.invoke(
        main, ["cluster", str(photos), "--out", str(tmp_path / "sorted")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    folders = sorted(p.name for p in (tmp_path / "sorted").iterdir())
    assert folders[:2] == ["person_000", "person_001"]
    for folder in (tmp_path / "sorted").glob("person_*"):
        # Face crops named <photo>_<face>.png: one person per folder.
        assert len({p.name.rsplit("_", 2)[0] for p in folder.iterdir()}) == 1
    result = runner.invoke(
        main, ["cluster", str(photos), "--out", str(tmp_path / "c.csv")], catch_exceptions=False
    )
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert rows[0] == "path,face,cluster,x1,y1,x2,y2" and len(rows) == 9
