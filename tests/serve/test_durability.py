"""Writers beside readers, then kill -9 mid-enrolment: every acknowledged enrolment survives."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from faceprint.gallery.store import GalleryStore
from tests.serve.conftest import make_keys, start_server


@pytest.fixture()
def photos(lfw):
    """(name, bytes) of the first photo of 60 LFW people with at least two."""
    people = sorted(p for p in (lfw / "images").iterdir() if len(list(p.iterdir())) >= 2)[:60]
    return [(p.name, (p / f"{p.name}_0001.jpg").read_bytes()) for p in people]


@pytest.mark.slow
def test_acknowledged_enrolments_survive_kill_9(tmp_path, photos, lfw):
    keys = make_keys(tmp_path / "keys.json")
    server = start_server(tmp_path)
    server.keys = keys
    acknowledged: dict[str, int] = {}
    server_errors: list[str] = []
    reads = []
    queue = list(photos)
    lock = threading.Lock()
    stop = threading.Event()

    def writer():
        with server.client(headers=server.headers("write")) as client:
            while not stop.is_set():
                with lock:
                    if not queue:
                        return
                    name, data = queue.pop()
                try:
                    answer = client.post(f"/v1/identities/{name}/faces", files={"image": data})
                except httpx.HTTPError:
                    return  # the server was killed under this request
                if answer.status_code >= 500:
                    server_errors.append(answer.text)
                if answer.status_code == 201:
                    with lock:
                        acknowledged[name] = answer.json()["face_id"]

    probe = (lfw / "images/Colin_Powell/Colin_Powell_0002.jpg").read_bytes()

    def reader():
        with server.client(headers=server.headers("read")) as client:
            while not stop.is_set():
                try:
                    answer = client.post("/v1/identify", files={"image": probe})
                except httpx.HTTPError:
                    return
                reads.append(answer.status_code)
                if answer.status_code >= 500:
                    server_errors.append(answer.text)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 120
    while len(acknowledged) < 25 and time.time() < deadline:
        time.sleep(0.05)
    server.stop(signal.SIGKILL)  # mid-enrolment: the writers still have photos queued
    stop.set()
    for t in threads:
        t.join(timeout=60)

    assert len(acknowledged) >= 25 and queue, "the kill did not land mid-enrolment"
    assert not server_errors
    assert reads and set(reads) == {200}
    store = GalleryStore(server.gallery, create=False)
    try:
        stored = {f.id: f.identity for f in store.faces()}
    finally:
        store.close()
    for name, face_id in acknowledged.items():
        assert stored.get(face_id) == name

    again = start_server(tmp_path, gallery=server.gallery, keys_file=server.keys_file)
    again.keys = keys
    try:
        with again.client(headers=again.headers("read")) as client:
            listed = {i["name"] for i in client.get("/v1/identities").json()["identities"]}
            name, data = next(p for p in photos if p[0] in acknowledged)
            [face] = client.post("/v1/identify", files={"image": data}).json()["faces"]
    finally:
        again.stop()
    assert set(acknowledged) <= listed
    assert face["name"] == name
