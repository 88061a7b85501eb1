"""A real ``faceprint serve`` on 127.0.0.1, started as its own process, with keys of each scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="faceprint[serve] is not installed")
import httpx  # noqa: E402

from faceprint.serve.keys import KeyFile  # noqa: E402
from faceprint.serve.process import ServerProcess, spawn_server  # noqa: E402


@dataclass
class Server:
    """A running server with its gallery, keys file and a key per scope."""

    running: ServerProcess
    gallery: Path
    keys_file: Path
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.running.url

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, **kwargs)

    def rss_mib(self) -> float:
        return self.running.rss_mib()

    def stop(self, *sig: int) -> None:
        self.running.stop(*sig)


def start_server(
    tmp: Path, *options: str, gallery: Path | None = None, keys_file: Path | None = None
) -> Server:
    gallery = gallery or tmp / "faces.gallery"
    keys_file = keys_file or tmp / "keys.json"
    arguments = ["--gallery", str(gallery), "--keys", str(keys_file), *options]
    log = tmp / f"serve-{len(list(tmp.glob('serve-*.log')))}.log"
    return Server(spawn_server(arguments, log), gallery, keys_file)


@pytest.fixture
def started(tmp_path):
    """``started(*options, gallery=..., keys_file=...)``: :func:`start_server` in the test's
    folder, each server stopped when the test ends, passed or failed (a failed assertion must
    not leave a server running)."""
    running: list[Server] = []

    def start(*options: str, **kwargs) -> Server:
        server = start_server(tmp_path, *options, **kwargs)
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


def make_keys(path: Path) -> dict[str, str]:
    keys = KeyFile(path)
    made = {scope: keys.create(f"test-{scope}", scope) for scope in ("read", "write", "admin")}
    made["revoked"] = keys.create("test-revoked", "admin")
    keys.revoke("test-revoked")
    made["limited"] = keys.create("test-limited", "read")
    return made


@pytest.fixture(scope="session")
def server(tmp_path_factory, data_dir) -> Server:
    """One server for the API tests: 30 requests a second per key, 1 MB bodies that must
    arrive within 3 s."""
    tmp = tmp_path_factory.mktemp("serve")
    keys = make_keys(tmp / "keys.json")
    running = start_server(tmp, "--rate", "30/s", "--max-bytes", "1MB", "--body-timeout", "3")
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
