"""The PostgreSQL store against a real server of the tests' own: opening, NOTIFY, and the
sequence check that stands in for a lost listener."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from faceprint.errors import GalleryError
from faceprint.gallery import UNKNOWN, Gallery


def unit(count: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((count, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_an_unreachable_server_is_one_line_without_the_password():
    pytest.importorskip("psycopg")
    with pytest.raises(GalleryError) as caught:
        Gallery("postgresql://bob:secret@127.0.0.1:9/faces")
    message = str(caught.value)
    assert message.startswith("postgresql://bob@127.0.0.1:9/faces: cannot connect")
    assert "secret" not in message and "\n" not in message


def test_an_empty_database_is_no_gallery_unless_created(postgres):
    url = postgres.new_database()
    with pytest.raises(GalleryError, match="no gallery in this database"):
        Gallery(url, create=False)


def test_replicas_starting_together_make_one_gallery(postgres):
    url = postgres.new_database()
    with ThreadPoolExecutor(4) as pool:
        galleries = list(pool.map(lambda _: Gallery(url, model="ms-celeb-1m"), range(4)))
    assert sum(g.store.created for g in galleries) == 1
    assert len({g.store.uid for g in galleries}) == 1
    for g in galleries:
        g.close()


def test_a_write_notifies_the_other_replicas_and_a_lost_listener_is_covered(postgres):
    url = postgres.new_database()
    v = unit(3, 0)
    with Gallery(url, model="ms-celeb-1m") as writer, Gallery(url) as reader:
        reader.search(v[:1])  # clears the first poll's flag
        assert not reader.store._notified.is_set()
        writer.add_embeddings("alice", v[:1])
        deadline = time.monotonic() + 10
        while not reader.store._notified.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reader.store._notified.is_set(), "no NOTIFY reached the other replica"
        assert reader.search(v[:1])[0].name == "alice"
        # The listener's connection dies: the sequence check alone keeps searches current.
        backend = reader.store._listener.info.backend_pid
        with writer.store.transaction():
            writer.store.db.execute("SELECT pg_terminate_backend(%s)", (backend,))
        reader.store._thread.join(timeout=10)
        assert not reader.store._thread.is_alive()
        writer.add_embeddings("bob", v[1:2])
        assert reader.search(v[1:2])[0].name == "bob"
        writer.remove("alice")
        assert reader.search(v[:1])[0].name == UNKNOWN


def test_concurrent_writers_commit_their_sequence_numbers_in_order(postgres):
    """Writers take turns, so no index can skip a change committed after one it has seen."""
    url = postgres.new_database()
    v = unit(80, 1)
    with Gallery(url, model="ms-celeb-1m") as reader:
        writers = [Gallery(url) for _ in range(4)]

        def write(w: int) -> None:
            for i in range(w, 80, 4):
                writers[w].add_embeddings(f"p{i}", v[i : i + 1])

        threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            reader.sync()  # catching up while the writers commit
        reader.sync()
        assert len(reader.index) == len(reader) == 80
        assert [a.name for a in reader.search(v)] == [f"p{i}" for i in range(80)]
        for w in writers:
            w.close()
