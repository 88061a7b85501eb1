"""A real ``faceprint serve`` on 127.0.0.1, started as its own process, with keys of each scope."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="faceprint[serve] is not installed")
import httpx  # noqa: E402

from faceprint.serve.keys import KeyFile  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running server: its URL, process, files and a key per scope."""

    url: str
    process: subprocess.Popen
    gallery: Path
    keys_file: Path
    keys: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, **kwargs)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_server(
    tmp: Path, *options: str, gallery: Path | None = None, keys_file: Path | None = None
) -> Server:
    """Start ``faceprint serve`` and wait until /healthz answers (the first start may fetch the
    model: up to 4 minutes)."""
    gallery = gallery or tmp / "faces.gallery"
    keys_file = keys_file or tmp / "keys.json"
    port = free_port()
    log = tmp / f"serve-{port}.log"
    command = [sys.executable, "-m", "faceprint", "serve", "--gallery", str(gallery)]
    command += ["--keys", str(keys_file), "--port", str(port), *options]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, gallery, keys_file, log=log)
    deadline = time.time() + 240
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"faceprint serve exited {process.returncode}: {log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        time.sleep(0.3)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"faceprint serve did not answer in time: {log.read_text()}")


def make_keys(path: Path) -> dict[str, str]:
    keys = KeyFile(path)
    made = {scope: keys.create(f"test-{scope}", scope) for scope in ("read", "write", "admin")}
    made["revoked"] = keys.create("test-revoked", "admin")
    keys.revoke("test-revoked")
    made["limited"] = keys.create("test-limited", "read")
    return made


@pytest.fixture(scope="session")
def server(tmp_path_factory, data_dir) -> Server:
    """One server for the API tests: 30 requests a second per key, 1 MB bodies."""
    tmp = tmp_path_factory.mktemp("serve")
    keys = make_keys(tmp / "keys.json")
    running = start_server(tmp, "--rate", "30/s", "--max-bytes", "1MB")
    running.keys = keys
    yield running
    running.stop()


@pytest.fixture(scope="session")
def lfw_image(lfw):
    def image(name: str, number: int) -> bytes:
        return (lfw / "images" / name / f"{name}_{number:04d}.jpg").read_bytes()

    return image


@pytest.fixture(scope="session")
def recognizer():
    from faceprint import FaceRecognizer

    return FaceRecognizer()
