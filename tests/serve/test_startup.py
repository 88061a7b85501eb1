"""``faceprint serve`` refuses to start where it could not work: a busy port (before loading
anything) and a read-only gallery it would be asked to write."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

import pytest

from faceprint.serve.process import spawn_server
from tests.serve.conftest import make_keys


def serve(*options: str, timeout: float = 60) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "faceprint", "serve", *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def test_a_busy_port_is_one_line_before_the_model_loads(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = serve("--port", str(port), "--gallery", str(tmp_path / "g.gallery"))
        took = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""  # no banner
    assert result.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use; pick another with --port"
    ]
    assert not (tmp_path / "g.gallery").exists()  # nothing was opened
    assert took < 20, f"{took:.0f} s: the model was loaded first"


def _read_only(path) -> list[str]:
    """A command prefix that runs its command with ``path`` mounted read-only (a user and
    mount namespace: root's permission override does not reach a read-only mount)."""
    unshare = shutil.which("unshare")
    probe = [unshare, "-rm", "sh", "-c", f"mount --bind {path} {path}"] if unshare else None
    if probe is None or subprocess.run(probe, capture_output=True).returncode != 0:
        pytest.skip("unshare cannot make a mount namespace here")
    script = f'mount --bind "{path}" "{path}" && mount -o remount,ro,bind "{path}" && exec "$@"'
    return [unshare, "-rm", "sh", "-c", script, "sh"]


@pytest.fixture()
def read_only_gallery(tmp_path, lfw):
    from faceprint import FaceRecognizer
    from faceprint.gallery.gallery import Gallery

    path = tmp_path / "faces.gallery"
    with Gallery(path, recognizer=FaceRecognizer()) as gallery:
        gallery.add("Colin Powell", [lfw / "images/Colin_Powell/Colin_Powell_0001.jpg"])
    return path


def test_a_read_only_gallery_refuses_to_serve_for_writing(read_only_gallery):
    command = [
        *_read_only(read_only_gallery),
        sys.executable,
        "-m",
        "faceprint",
        "serve",
        "--gallery",
        str(read_only_gallery),
        "--port",
        "1",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {read_only_gallery} is read-only") and "--read-only" in line


@pytest.mark.slow
def test_a_read_only_gallery_serves_with_read_only(read_only_gallery, tmp_path, lfw_image):
    import httpx

    keys = make_keys(tmp_path / "keys.json")
    options = ["--gallery", str(read_only_gallery), "--keys", str(tmp_path / "keys.json")]
    running = spawn_server(
        [*options, "--read-only"], tmp_path / "serve.log", prefix=_read_only(read_only_gallery)
    )
    headers = {"Authorization": f"Bearer {keys['admin']}"}
    try:
        with httpx.Client(base_url=running.url, headers=headers, timeout=120) as client:
            listed = client.get("/v1/identities")
            found = client.post("/v1/identify", files={"image": lfw_image("Colin_Powell", 2)})
            refused = client.post(
                "/v1/identities/Ann/faces", files={"image": lfw_image("Colin_Powell", 3)}
            )
    finally:
        running.stop()
    assert [i["name"] for i in listed.json()["identities"]] == ["Colin Powell"]
    assert found.json()["faces"][0]["name"] == "Colin Powell"
    assert refused.status_code == 403 and refused.json()["error"] == "read_only"
    assert "Traceback" not in running.log.read_text()
