"""Every search sees every committed write, whatever opened the gallery, on SQLite and
PostgreSQL alike: the index catches up from the change log, and ids are never reused."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.errors import GalleryError
from faceprint.gallery import UNKNOWN, Gallery
from faceprint.gallery.index import FaissIndex
from faceprint.pipeline import FaceRecognizer


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "people.gallery")
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(scope="module")
def recognizer():
    return FaceRecognizer(model="ms-celeb-1m")


def unit(count: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((count, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def photo(lfw, name, i):
    return lfw / "images" / name / f"{name}_{i:04d}.jpg"


@pytest.mark.slow
def test_a_removed_person_s_id_never_names_the_next_one(location, recognizer, lfw):
    """Enrol Eve, remove Eve, enrol Frank: Eve's photo is not Frank's, Frank's is."""
    eve, frank = photo(lfw, "Tony_Blair", 1), photo(lfw, "Colin_Powell", 1)
    with Gallery(location, recognizer=recognizer) as g:
        assert g.add("Eve", eve).added == [str(eve)]
        [eve_id] = [f.id for f in g.faces("Eve")]
        assert g.remove("Eve") == 1
        g.add("Frank", frank)
        [frank_id] = [f.id for f in g.faces("Frank")]
        assert frank_id != eve_id
        with pytest.raises(GalleryError, match=f"no face with id {eve_id}"):
            g.remove_face(eve_id)  # a retried delete of Eve's face
    for _ in range(2):  # and after a restart
        with Gallery(location, recognizer=recognizer) as g:
            [[(_, as_eve)], [(_, as_frank)]] = recognizer.identify(
                [eve, photo(lfw, "Colin_Powell", 2)], g
            )
            assert as_eve.name == UNKNOWN and as_eve.distance > 0.5
            assert as_frank.name == "Frank"


def test_a_write_through_one_gallery_is_seen_by_another_at_once(location):
    v = unit(4, 0)
    with Gallery(location, model="ms-celeb-1m") as a, Gallery(location) as b:
        assert b.search(v[:1])[0].name == UNKNOWN
        [first, _] = a.add_embeddings("alice", v[:2])
        assert b.search(v[:1])[0].name == "alice"
        b.add_embeddings("bob", v[2:3])
        assert a.search(v[2:3])[0].name == "bob"
        a.remove_face(first)
        assert b.search(v[:1])[0].matches[0].face_id != first
        b.remove("bob")
        assert a.search(v[2:3])[0].name == UNKNOWN
        assert len(a.index) == len(b.index) == len(a) == 1


def test_a_removed_face_never_answers_whatever_the_index_holds(location):
    v = unit(2, 1)
    with Gallery(location, model="ms-celeb-1m") as g:
        [gone, kept] = g.add_embeddings("alice", v)
        g.remove_face(gone)
        g.index.add(np.array([gone]), v[:1])  # an index that kept the removed face
        [answer] = g.search(v[:1], k=2)
        assert [m.face_id for m in answer.matches] == [kept]


def test_a_saved_index_with_fewer_faces_than_the_store_is_caught_up(location):
    """Two galleries open; the first adds and saves; the second, which never saw those faces,
    closes last and saves its index: the next open catches up, it does not trust that index."""
    v = unit(12, 2)
    with Gallery(location, model="ms-celeb-1m") as early:
        late = Gallery(location)
        for i in range(10):
            early.add_embeddings(f"p{i}", v[i : i + 1])
        sequence = early.store.sequence
    late.close()  # holds none of the ten: saved as of the sequence it holds
    path = late.store.index_path()
    index, stamp = FaissIndex.load(path, 128, late.store.uid)
    assert len(index) == 0 and stamp < sequence
    with Gallery(location) as again:
        assert len(again.index) == len(again) == 10
        assert [a.name for a in again.search(v[:10])] == [f"p{i}" for i in range(10)]
        again.add_embeddings("p10", v[10:11])
    # Closed cleanly, the index is saved with what it holds, and trusted for just that.
    with Gallery(location) as last:
        assert last.store.changes(FaissIndex.load(path, 128, last.store.uid)[1]).added == []
        assert last.search(v[10:11])[0].name == "p10"


def test_a_saved_index_of_another_gallery_is_not_used(tmp_path):
    v = unit(2, 3)
    with Gallery(tmp_path / "a.gallery", model="ms-celeb-1m") as a:
        a.add_embeddings("alice", v[:1])
    # Another gallery later made at that path finds the old gallery's index beside it.
    (tmp_path / "a.gallery").unlink()
    with Gallery(tmp_path / "a.gallery", model="ms-celeb-1m") as b:
        assert len(b.index) == 0 and b.search(v[:1])[0].name == UNKNOWN
