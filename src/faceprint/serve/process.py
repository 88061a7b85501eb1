"""``faceprint serve`` as a child process on 127.0.0.1: for tests, benchmarks and scripts that
need a real server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """A running ``faceprint serve``.

    Attributes:
        url: ``http://127.0.0.1:PORT``.
        process: the child process.
        log: where its output goes.
    """

    url: str
    process: subprocess.Popen
    log: Path

    def rss_mib(self) -> float:
        """Resident memory of the server, in MiB (Linux)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for process {self.process.pid}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` (SIGKILL to simulate a crash) and wait for the process to end."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def spawn_server(
    options: list[str],
    log: str | os.PathLike,
    timeout: float = 240.0,
    prefix: list[str] | None = None,
) -> ServerProcess:
    """Start ``faceprint serve OPTIONS --port P`` and wait until ``/healthz`` answers.

    Args:
        options: command-line options (``--gallery``, ``--keys``, ...), without ``--port``.
        log: file that receives the server's output.
        timeout: seconds to wait; the first start may fetch the model.
        prefix: a command that runs the server (it must ``exec`` it, so that signals reach
            it), e.g. one that mounts a folder read-only first.

    Raises:
        RuntimeError: the server exited or did not answer in time (its log is in the message).
    """
    port = free_port()
    log = Path(log)
    command = [sys.executable, "-m", "faceprint", "serve", *options, "--port", str(port)]
    command = [*(prefix or []), *command]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"faceprint serve exited {process.returncode}: {log.read_text()}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as answer,
        ):
            if answer.status == 200:
                return server
        time.sleep(0.3)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"faceprint serve did not answer in {timeout:.0f} s: {log.read_text()}")
