"""The SQLite store: ids never handed out twice, the change log, and schema-1 files migrated."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from faceprint.errors import GalleryError
from faceprint.gallery import Gallery
from faceprint.gallery.index import FaissIndex
from faceprint.gallery.store import SCHEMA_VERSION, GalleryStore

# The schema of faceprint's first galleries, as it was: ids were INTEGER PRIMARY KEY only.
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE identities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE faces (
    id INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    source TEXT,
    source_key TEXT,
    box TEXT,
    added REAL NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    embedding BLOB NOT NULL,
    UNIQUE (identity_id, source_key)
);
CREATE INDEX faces_identity ON faces(identity_id);
CREATE INDEX faces_source_key ON faces(source_key);
"""


def unit(count: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((count, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def store(tmp_path) -> GalleryStore:
    return GalleryStore(tmp_path / "g.gallery", model="ms-celeb-1m/box", dim=128)


def add(s: GalleryStore, name: str, vectors: np.ndarray) -> list[int]:
    n = len(vectors)
    return s.add_faces(name, vectors, [None] * n, [None] * n, [None] * n, [{}] * n)


def test_face_and_identity_ids_are_never_handed_out_again(tmp_path):
    s = store(tmp_path)
    [eve] = add(s, "Eve", unit(1, 0))
    eve_identity = s.identity_id("Eve")
    assert s.remove_face(eve) == "Eve" and s.identity_id("Eve") is None
    [frank] = add(s, "Frank", unit(1, 1))
    assert frank > eve and s.identity_id("Frank") > eve_identity
    with pytest.raises(GalleryError, match=f"no face with id {eve}"):
        s.remove_face(eve)  # a retried delete removes nobody else
    assert [f.identity for f in s.faces()] == ["Frank"]
    s.close()
    again = GalleryStore(tmp_path / "g.gallery", create=False)  # the counters persist
    assert add(again, "Grace", unit(1, 2))[0] > frank
    again.close()


def test_the_change_log_is_written_with_the_change(tmp_path):
    s = store(tmp_path)
    start = s.sequence
    ids = add(s, "a", unit(3, 0))
    assert s.sequence == start + 3
    s.remove_face(ids[0])
    s.remove("a")  # the last two go by the cascade from the identity
    changes = s.changes(start + 3)
    assert changes.removed == ids and changes.added == [] and changes.sequence == start + 6
    # Added and removed after `start`: nothing for an index at `start` to do.
    assert s.changes(start).added == s.changes(start).removed == []
    with pytest.raises(GalleryError, match="looks like a path"):
        add(s, "a/b", unit(1, 1))  # a rolled-back write leaves no trace in the log
    assert s.sequence == start + 6
    assert s.changes(start + 7) is None, "a sequence ahead of the store cannot be caught up"
    s.close()


def test_another_connection_s_commit_is_seen_by_poll(tmp_path):
    reader, writer = store(tmp_path), store(tmp_path)
    assert reader.poll() and not reader.poll()
    add(writer, "a", unit(1, 0))
    assert reader.poll() and not reader.poll()
    reader.close()
    writer.close()


def make_schema_1(path, faces: dict[int, tuple[str, np.ndarray]], generation: int) -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA application_id={0x46505247}")  # "FPRG"
    db.executescript(SCHEMA_1)
    meta = {"schema": "1", "model": "ms-celeb-1m/box", "dim": "128"}
    meta |= {"generation": str(generation), "created": "0"}
    db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    names = sorted({n for n, _ in faces.values()})
    db.executemany(
        "INSERT INTO identities (id, name, created) VALUES (?, ?, 0)",
        [(i + 1, n) for i, n in enumerate(names)],
    )
    db.executemany(
        "INSERT INTO faces (id, identity_id, added, embedding) VALUES (?, ?, 0, ?)",
        [(i, names.index(n) + 1, v.tobytes()) for i, (n, v) in faces.items()],
    )
    db.commit()
    db.close()


def test_a_schema_1_gallery_is_migrated_keeping_its_ids(tmp_path):
    path = tmp_path / "old.gallery"
    v = unit(3, 0)
    make_schema_1(path, {1: ("alice", v[0]), 2: ("bob", v[1]), 5: ("alice", v[2])}, 7)
    # Its old saved index: stamped "current" while holding one face of three.
    old = FaissIndex(128)
    old.add(np.array([1]), v[:1])
    old._faiss.write_index(old.index, str(path) + ".faiss")
    (tmp_path / "old.gallery.faiss.generation").write_text("7")

    with Gallery(path) as g:
        assert len(g) == 3 and len(g.index) == 3, "the old index was rebuilt, not trusted"
        assert [(f.id, f.identity) for f in g.faces()] == [(1, "alice"), (2, "bob"), (5, "alice")]
        assert [a.name for a in g.search(v)] == ["alice", "bob", "alice"]
        assert g.search(v[2:])[0].matches[0].face_id == 5
        assert g.store.meta("schema") == str(SCHEMA_VERSION)
        g.remove_face(5)
        [new] = g.add_embeddings("carol", unit(1, 1))
        assert new == 6, "the migrated table goes on from the largest id it had"
    db = sqlite3.connect(path)
    tables = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type='table'").fetchall())
    assert "AUTOINCREMENT" in tables["faces"] and "AUTOINCREMENT" in tables["identities"]
    assert not {"faces_v1", "identities_v1"} & set(tables)
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    db.close()
    assert not (tmp_path / "old.gallery.faiss.generation").exists()
    with Gallery(path) as again:  # opening a migrated gallery again changes nothing
        assert {f.id for f in again.faces()} == {1, 2, 6} and len(again.index) == 3
