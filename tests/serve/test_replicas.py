"""Two ``faceprint serve`` processes and the CLI on one gallery (a SQLite file, or PostgreSQL
for replicas on several machines), one server killed with SIGKILL mid-burst: every acknowledged
enrolment is found by every process on its next request, and no process keeps a deleted face."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serve.conftest import Server, make_keys

CLI = [sys.executable, "-m", "faceprint.cli"]


@pytest.fixture()
def photos(lfw):
    """name -> (enrolled photo, its bytes), for 16 LFW people."""
    people = sorted(p for p in (lfw / "images").iterdir() if len(list(p.iterdir())) >= 2)
    chosen = people[100:116]  # not the people other tests enrol
    return {p.name: (path := p / f"{p.name}_0001.jpg", path.read_bytes()) for p in chosen}


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "shared.gallery")
    return request.getfixturevalue("postgres").new_database()


def identify(server: Server, data: bytes) -> dict:
    with server.client(headers=server.headers("read")) as client:
        answer = client.post("/v1/identify", params={"k": 5}, files={"image": data})
    assert answer.status_code == 200, answer.text
    return subject(answer.json()["faces"])


def subject(faces: list[dict]) -> dict:
    """The photo's subject: LFW centres its person at (125, 125), among any bystanders."""
    return min(faces, key=lambda f: abs(sum(f["box"][::2]) - 250) + abs(sum(f["box"][1::2]) - 250))


def cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *arguments], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_replicas_and_the_cli_agree_through_a_kill_9(tmp_path, location, photos, started):
    keys = make_keys(tmp_path / "keys.json")
    names = list(photos)
    # The gallery exists before the servers start together (made by a first CLI enrolment).
    first, (path, _) = names[0], photos[names[0]]
    made = cli("enroll", "--gallery", location, first, str(path))
    assert made.returncode == 0, made.stderr
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda _: started(gallery=location), range(2))
    a.keys = b.keys = keys
    acknowledged: dict[str, int | None] = {}  # face id; None: enrolled by a's last act
    failures: list[str] = []
    queue = [(i, n) for i, n in enumerate(names[1:-2])]
    lock, dead = threading.Lock(), threading.Event()

    def writer():
        while True:
            with lock:
                if not queue:
                    return
                i, name = queue.pop()
            target = a if i % 2 and not dead.is_set() else b
            try:
                with target.client(headers=target.headers("write")) as client:
                    answer = client.post(  # durability, not quality: every photo goes in
                        f"/v1/identities/{name}/faces",
                        files={"image": photos[name][1]},
                        params={"min_quality": 0},
                    )
            except httpx.HTTPError:  # a was killed under this request: b takes it
                with lock:
                    queue.append((0, name))
                continue
            # 200: a committed it before it died, and b finds it enrolled already.
            if answer.status_code not in (200, 201):
                failures.append(answer.text)
                continue
            with lock:
                acknowledged[name] = answer.json()["face_id"]

    # The CLI enrols two people while the servers take the burst.
    enrolling = [
        subprocess.Popen(
            [*CLI, "enroll", "--gallery", location, name, str(photos[name][0])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in names[-2:]
    ]
    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    while len(acknowledged) < 5 and any(t.is_alive() for t in threads):
        threading.Event().wait(0.05)
    with lock:
        left = len(queue)
    a.stop(signal.SIGKILL)
    dead.set()
    for t in threads:
        t.join(timeout=300)
    assert left > 0, "the kill did not land mid-burst"
    assert not failures
    for process in enrolling:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    enrolled = set(acknowledged) | {first, *names[-2:]}
    assert len(enrolled) == len(names)

    # The survivor, at once: every acknowledged enrolment, made through any process.
    for name in enrolled:
        found = identify(b, photos[name][1])
        assert found["name"] == name, (name, found)
        if acknowledged.get(name) is not None:
            assert found["candidates"][0]["face_id"] == acknowledged[name]
    restarted = started(gallery=location)
    restarted.keys = keys

    # Deletes through the CLI and through one server reach every process.
    gone_by_cli = names[-1]
    gone_by_id = min(n for n, face in acknowledged.items() if face is not None)
    removed = cli("gallery", "remove", location, gone_by_cli)
    assert removed.returncode == 0, removed.stderr
    face_id = acknowledged[gone_by_id]
    with restarted.client(headers=restarted.headers("write")) as client:
        assert client.delete(f"/v1/faces/{face_id}").status_code == 200
    with b.client(headers=b.headers("write")) as client:
        stale = client.delete(f"/v1/faces/{face_id}")  # a retried delete
        assert stale.status_code == 404 and f"no face with id {face_id}" in stale.text
    deleted = {gone_by_cli, gone_by_id}
    for server in (b, restarted):
        for name in enrolled:
            found = identify(server, photos[name][1])
            if name in deleted:
                assert found["name"] != name and name not in {
                    c["name"] for c in found["candidates"]
                }
                assert face_id not in {c["face_id"] for c in found["candidates"]}
            else:
                assert found["name"] == name, (name, found)

    # After every process has stopped, a new one finds the same.
    b.stop()
    restarted.stop()
    order = sorted(enrolled)
    answer = cli("identify", "--gallery", location, "--json", *(str(photos[n][0]) for n in order))
    assert answer.returncode == 0, answer.stderr
    results = json.loads(answer.stdout)
    named = {n: subject(r["faces"])["identity"] for n, r in zip(order, results, strict=True)}
    assert named == {n: ("unknown" if n in deleted else n) for n in order}
