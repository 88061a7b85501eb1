"""``faceprint library`` as users run it: the interface the checks use, exit codes, and a scan
really killed with SIGKILL that the next scan finishes without losing or repeating a photo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.library.conftest import make_folder

FACEPRINT = [sys.executable, "-m", "faceprint"]
ENV = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [*FACEPRINT, "library", *args], capture_output=True, text=True, env=ENV, timeout=600
    )
    if check and done.returncode != 0:
        raise AssertionError(f"exit {done.returncode}: {done.stderr}")
    return done


def faces_per_image(library: Path) -> Counter:
    people = json.loads(run("people", "--library", str(library), "--json").stdout)
    return Counter(Path(f["image"]).name for p in people for f in p["faces"])


@pytest.mark.slow
def test_kill_9_mid_scan_loses_nothing_and_counts_nothing_twice(lfw, tmp_path, scanned):
    from faceprint.library.store import LibraryStore

    people = {"Colin_Powell": (1, 2, 3, 4), "Tony_Blair": (1, 2, 3, 4)}
    photos = make_folder(lfw, None, tmp_path / "photos", people)
    library = tmp_path / "library"
    args = ["scan", str(photos), "--library", str(library), "--batch-size", "1", "--json"]
    scan = subprocess.Popen(
        [*FACEPRINT, "library", *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stored = 0
    deadline = time.monotonic() + 300
    while stored < 2 and time.monotonic() < deadline and scan.poll() is None:
        time.sleep(0.05)
        if (library / "library.db").exists():
            try:
                store = LibraryStore(library / "library.db", create=False)
                stored = store.counts()["photos"]
                store.close()
            except Exception:  # the schema may be mid-creation
                continue
    scan.send_signal(signal.SIGKILL)
    scan.wait()
    assert scan.returncode == -signal.SIGKILL, "the scan finished before it could be killed"
    store = LibraryStore(library / "library.db", create=False)
    kept = store.counts()
    store.close()
    assert 2 <= kept["photos"] < 8
    again = json.loads(run(*args).stdout)
    assert again["new"] == 8 - kept["photos"]
    assert again["library"]["photos"] == 8 and again["library"]["pending"] == 0
    # Every photo has the faces a clean scan finds, once each.
    clean = faces_per_image(scanned[1])
    assert faces_per_image(library) == Counter(
        {
            k: v
            for k, v in clean.items()
            if k in {f"{name}_{n:04d}.jpg" for name, numbers in people.items() for n in numbers}
        }
    )
    assert json.loads(run(*args).stdout)["new"] == 0


@pytest.mark.slow
def test_the_interface_the_checks_use(scanned, tmp_path):
    import shutil

    photos, original = scanned
    library = tmp_path / "library"
    shutil.copytree(original, library)
    listed = json.loads(run("people", "--library", str(library), "--json", "--embeddings").stdout)
    assert listed and all({"id", "name", "faces"} <= set(p) for p in listed)
    face = listed[0]["faces"][0]
    assert Path(face["image"]).is_file() and len(face["box"]) == 4
    assert len(face["embedding"]) == 128
    assert (
        "embedding"
        not in json.loads(run("people", "--library", str(library), "--json").stdout)[0]["faces"][0]
    )
    target = listed[0]["id"]
    done = run("forget", str(target), "--library", str(library))
    assert f"{len(listed[0]['faces'])} faces erased" in done.stdout
    after = json.loads(run("people", "--library", str(library), "--json").stdout)
    assert target not in {p["id"] for p in after}
    audit = json.loads(run("audit", "--library", str(library), "--json").stdout)
    assert audit[-1]["what"] == "forget" and "embedding" not in json.dumps(audit)


@pytest.mark.slow
def test_usage_and_input_errors(tmp_path):
    from faceprint.library import Library

    Library(tmp_path / "empty").close()
    missing = run("people", "--library", str(tmp_path / "none"), check=False)
    assert missing.returncode == 2 and "no library here" in missing.stderr
    unknown = run("forget", "nobody", "--library", str(tmp_path / "empty"), check=False)
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines()[-1].startswith("Error: no person or cluster")
    flags = run("people", "--library", str(tmp_path / "empty"), "--embeddings", check=False)
    assert flags.returncode == 2 and "--embeddings goes with --json" in flags.stderr
    not_a_folder = run(
        "scan", str(tmp_path / "nope"), "--library", str(tmp_path / "l"), check=False
    )
    assert not_a_folder.returncode == 2
