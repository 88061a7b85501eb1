"""kill -9 during enrolment, readers beside a writer: the gallery stays whole."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from faceprint.gallery import Gallery

PEOPLE = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld"]


@pytest.fixture()
def people_dir(lfw, tmp_path):
    root = tmp_path / "people"
    for name in PEOPLE:
        (root / name).mkdir(parents=True)
        for i in (1, 2, 3, 5, 7):
            src = lfw / "images" / name / f"{name}_{i:04d}.jpg"
            (root / name / src.name).symlink_to(src)
    return root


def enrolled(path) -> int:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM faces").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0


def enroll_command(gallery, people_dir):
    return [
        sys.executable,
        "-m",
        "faceprint.cli",
        "enroll",
        "--gallery",
        str(gallery),
        str(people_dir),
    ]


@pytest.mark.slow
def test_kill_9_during_enrolment_then_resume(people_dir, tmp_path):
    gallery = tmp_path / "people.gallery"
    proc = subprocess.Popen(
        enroll_command(gallery, people_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.time() + 240
    while enrolled(gallery) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = enrolled(gallery)
    assert 4 <= done < 15, f"kill landed after {done} enrolments"
    # The killed gallery opens, and every completed enrolment is there and searchable.
    with Gallery(gallery) as g:
        assert len(g) == done and len(g.index) == done
    # A second run completes the rest and skips what is there.
    out = subprocess.run(
        enroll_command(gallery, people_dir), capture_output=True, text=True, check=True
    )
    assert f"enrolled {15 - done}, already there {done}, rejected 0" in out.stdout
    with Gallery(gallery) as g:
        assert len(g) == 15 and {i.name: i.faces for i in g.list()} == dict.fromkeys(PEOPLE, 5)


@pytest.mark.slow
def test_reader_searches_while_a_writer_enrols(tmp_path):
    path = tmp_path / "busy.gallery"
    rng = np.random.default_rng(0)
    with Gallery(path, model="ms-celeb-1m") as g:
        v = rng.normal(size=(100, 128)).astype(np.float32)
        g.add_embeddings("seed", v / np.linalg.norm(v, axis=1, keepdims=True))
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import numpy as np\n"
                "from faceprint.gallery import Gallery\n"
                f"g = Gallery({str(path)!r})\n"
                "rng = np.random.default_rng(1)\n"
                "for i in range(200):\n"
                "    v = rng.normal(size=(5, 128)).astype(np.float32)\n"
                "    g.add_embeddings(f'person{i}', v / np.linalg.norm(v, axis=1, keepdims=True))\n"
                "g.close()\n"
            ),
        ]
    )
    reader = Gallery(path)
    searches = 0
    try:
        while writer.poll() is None:
            q = rng.normal(size=(4, 128)).astype(np.float32)
            answers = reader.search(q / np.linalg.norm(q, axis=1, keepdims=True), k=5)
            assert len(answers) == 4
            reader.list()
            searches += 1
    finally:
        writer.wait()
    assert writer.returncode == 0 and searches > 0
    reader.refresh()
    assert len(reader.index) == len(reader) == 100 + 200 * 5
    reader.close()
