"""The embed job on a local Ray (2 CPUs): the local engine's answers, a killed actor, a killed
driver, an unreachable cluster."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from faceprint import FaceRecognizer
from faceprint.batch import done_inputs, run_local, run_ray
from faceprint.errors import DatasetMismatchError, FaceprintError

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    yield
    ray.shutdown()


def _table(out):
    return pq.read_table(out).sort_by([("path", "ascending"), ("face", "ascending")])


def _exactly_once(out, inputs):
    table = pq.read_table(out)
    keys = collections.Counter(
        zip(table.column("path").to_pylist(), table.column("face").to_pylist(), strict=True)
    )
    assert max(keys.values()) == 1, "duplicate rows"
    assert {path for path, _ in keys} == set(inputs), "missing inputs"


@pytest.mark.slow
@pytest.mark.default_path
def test_ray_gives_the_local_engines_rows(local_ray, tmp_path, job_inputs):
    photos, bad = job_inputs
    inputs = photos + bad
    run_local(FaceRecognizer(), inputs, tmp_path / "local", batch_size=32)
    assert run_ray(inputs, tmp_path / "ray", "ms-celeb-1m", "box", actors=2, batch_size=32) == 204
    a, b = _table(tmp_path / "local"), _table(tmp_path / "ray")
    assert a.schema == b.schema and a.num_rows == b.num_rows >= 200
    for column in ("path", "face", "model", "alignment", "error"):
        assert a.column(column).to_pylist() == b.column(column).to_pylist()
    pairs = zip(a.column("embedding").to_pylist(), b.column("embedding").to_pylist(), strict=True)
    worst = max(np.abs(np.subtract(x, y)).max() for x, y in pairs if x is not None)
    assert worst < 1e-5
    assert run_ray(inputs, tmp_path / "ray", "ms-celeb-1m", "box") == 0  # all done


def _embed_actors():
    return [
        p
        for p in psutil.process_iter(["pid", "name", "cmdline"])
        if "EmbedActor" in " ".join(p.info["cmdline"] or []) + (p.info["name"] or "")
    ]


@pytest.mark.slow
def test_a_killed_actor_is_replaced_and_nothing_is_lost(local_ray, tmp_path, job_inputs):
    photos, _ = job_inputs
    out = tmp_path / "out"
    killed = []

    def kill_the_actor_once_it_has_written():
        # A written part proves the actor is mid-run with batches still queued; a fixed sleep
        # raced the whole job on faster machines.
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            if any(out.glob("*.parquet")):
                for actor in _embed_actors():
                    try:
                        os.kill(actor.info["pid"], signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    killed.append(actor.info["pid"])
                    break
            time.sleep(0.02)

    thread = threading.Thread(target=kill_the_actor_once_it_has_written, daemon=True)
    thread.start()
    run_ray(photos, out, "ms-celeb-1m", "box", actors=1, batch_size=4)
    thread.join(timeout=5)
    assert killed, "no actor was seen to kill"
    assert len(done_inputs(out)) == len(photos)
    _exactly_once(out, photos)


@pytest.mark.slow
def test_a_killed_ray_driver_resumes_exactly_once(tmp_path, job_inputs, local_ray):
    photos, bad = job_inputs
    listing = tmp_path / "inputs.txt"
    inputs = photos[:160] + bad
    listing.write_text("\n".join(inputs))
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "faceprint",
        "embed",
        str(listing),
        "--out",
        str(out),
        "--batch-size",
        "8",
    ]
    driver = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 180
    while time.time() < deadline and len(list(out.glob("*.parquet"))) < 3:
        time.sleep(0.1)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started
    driver.wait()
    written = done_inputs(out)  # sets aside a part file the kill cut short
    assert 0 < len(written) < len(inputs)  # stopped part-way
    run_ray(inputs, out, "ms-celeb-1m", "box", batch_size=16)
    _exactly_once(out, inputs)


def test_an_unreachable_cluster_fails_fast_and_says_so(tmp_path, job_inputs):
    photos, _ = job_inputs
    start = time.perf_counter()
    with pytest.raises(FaceprintError, match=r"Ray cluster at ray://127.0.0.1:9 is unreachable"):
        from faceprint.batch.ray_engine import connect

        if ray.is_initialized():
            ray.shutdown()
        connect("ray://127.0.0.1:9")
    assert time.perf_counter() - start < 10


@pytest.mark.slow
def test_ray_adds_the_attribute_columns_and_refuses_to_mix_them(local_ray, tmp_path, job_inputs):
    photos, bad = job_inputs
    inputs = photos[:4] + bad[:1]
    run_local(FaceRecognizer(), inputs, tmp_path / "local", attributes=True)
    assert run_ray(inputs, tmp_path / "ray", "ms-celeb-1m", None, attributes=True) == 5
    a, b = _table(tmp_path / "local"), _table(tmp_path / "ray")
    assert a.schema == b.schema and "emotion" in a.column_names
    for column in ("path", "face", "gender", "emotion", "error"):
        assert a.column(column).to_pylist() == b.column(column).to_pylist()
    np.testing.assert_allclose(
        np.array(a.column("age").to_pylist(), dtype=float),
        np.array(b.column("age").to_pylist(), dtype=float),
        atol=1e-3,
    )
    with pytest.raises(DatasetMismatchError, match="resume it with --attributes"):
        run_ray(photos[:6], tmp_path / "ray", "ms-celeb-1m", None)


@pytest.mark.slow
def test_each_actor_builds_the_detector_named(lfw):
    """run_ray's ``detector`` reaches the actors' recognizer (the actor class runs here, without
    Ray), which answers a batch with it (whether the face passes the recognizer's face filter
    is the calibration's business)."""
    import pyarrow as pa

    from faceprint.batch.ray_engine import EmbedActor

    actor = EmbedActor("ms-celeb-1m", "box", detector="centerface")
    assert actor.recognizer.detector.settings["name"] == "centerface"
    photo = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    batch = pa.table({"path": [str(photo)], "payload": [photo.read_bytes()], "read_error": [None]})
    [row] = actor(batch).to_pylist()
    assert row["path"] == str(photo) and row["error"] is None and row["model"] == "ms-celeb-1m"
