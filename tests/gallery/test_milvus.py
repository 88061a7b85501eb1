"""The same Gallery on Milvus (Milvus Lite here; a cluster URI in production), no mocks."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.gallery import UNKNOWN, Gallery

pytest.importorskip(
    "pymilvus", reason="the Milvus backend needs pymilvus and milvus-lite (the milvus extra)"
)
pytest.importorskip("milvus_lite", reason="Milvus Lite serves the tests")


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_milvus_backend_matches_faiss(tmp_path):
    rng = np.random.default_rng(0)
    people = {f"p{i}": unit(rng.normal(size=(3, 128))) for i in range(20)}
    queries = unit(np.stack([v[0] + 0.05 * rng.normal(size=128) for v in people.values()]))
    answers = {}
    for backend, vectors in (("faiss", None), ("milvus", str(tmp_path / "vectors.db"))):
        with Gallery(
            tmp_path / f"{backend}.gallery", model="ms-celeb-1m", vectors=vectors, rule="faces"
        ) as g:
            for name, emb in people.items():
                g.add_embeddings(name, emb)
            assert len(g.index) == 60
            answers[backend] = g.search(queries, k=3)
    for a, b in zip(answers["faiss"], answers["milvus"], strict=True):
        assert a.name == b.name and [m.name for m in a.matches] == [m.name for m in b.matches]
        assert abs(a.distance - b.distance) < 1e-4
    assert [a.name for a in answers["milvus"]] == list(people)


def test_milvus_remove_rename_and_resync(tmp_path):
    path, uri = tmp_path / "m.gallery", str(tmp_path / "vectors.db")
    v = unit(np.eye(3, 128))
    with Gallery(path, model="ms-celeb-1m", vectors=uri) as g:
        g.add_embeddings("a", v[:1])
        g.add_embeddings("b", v[1:2])
        g.rename("a", "alice")
        assert g.search(v[:1])[0].name == "alice"
        assert g.remove("b") == 1
        assert g.search(v[1:2])[0].name == UNKNOWN
    # Records written while the vector store was not updated (another process on FAISS) are
    # re-synced from SQLite, the source of truth, on the next Milvus open.
    with Gallery(path) as g:
        g.add_embeddings("carol", v[2:3])
    with Gallery(path, vectors=uri) as g:
        assert len(g.index) == 2
        assert g.search(v[2:3])[0].name == "carol"


@pytest.mark.slow
def test_milvus_gallery_is_searched_from_a_fresh_process(tmp_path, lfw):
    """Enrol in one process, identify in another: the CLI and the Python API."""
    import json
    import subprocess
    import sys

    gallery, uri = tmp_path / "g.gallery", str(tmp_path / "g.db")
    photo = lfw / "images" / "Tony_Blair" / "Tony_Blair_0001.jpg"
    query = lfw / "images" / "Tony_Blair" / "Tony_Blair_0009.jpg"
    cli = [sys.executable, "-m", "faceprint.cli"]
    common = ["--gallery", str(gallery), "--vectors", uri]
    enrolled = subprocess.run(
        [*cli, "enroll", *common, "Tony Blair", str(photo)], capture_output=True, text=True
    )
    assert enrolled.returncode == 0, enrolled.stderr
    found = subprocess.run(
        [*cli, "identify", *common, str(query), "--json"], capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr
    assert [f["identity"] for f in json.loads(found.stdout)[0]["faces"]] == ["Tony Blair"]
    code = (
        "import numpy as np\n"
        "from faceprint import Gallery\n"
        f"with Gallery({str(gallery)!r}, vectors={uri!r}) as g:\n"
        "    print(len(g.index), g.search(np.eye(1, 128, dtype=np.float32))[0].matches[0].name)\n"
    )
    api = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert api.returncode == 0, api.stderr
    assert api.stdout.split() == ["1", "Tony", "Blair"]
