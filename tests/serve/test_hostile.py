"""Hostile requests: each gets its status and a JSON error, and the server keeps serving with
bounded memory."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
import zlib

import httpx
import pytest


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def raw_request(url: str, head: str) -> tuple[int, dict]:
    """Send only a request's head (no body) and read the answer: what the server decides from
    the head alone."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.split(b"\r\n\r\n", 1)[1])


def test_declared_50mb_body_refused_before_it_is_read(server):
    head = (
        "POST /v1/detect HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {server.keys['read']}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 50000000\r\n\r\n"
    )
    status, body = raw_request(server.url, head)
    assert status == 413
    assert body["error"] == "too_large" and "50000000 bytes" in body["detail"]


def test_streamed_body_refused_once_over_the_limit(server):
    def chunks():
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * 65536

    with server.client(headers=server.headers("read")) as client:
        answer = client.post(
            "/v1/detect",
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"


@pytest.mark.parametrize(
    ("files", "data", "headers", "status", "error", "says"),
    [
        (
            {"image": ("bomb.png", png_declaring(40000, 40000), "image/png")},
            None,
            {},
            400,
            "bad_image",
            "decompression bomb",
        ),
        (
            {"image": ("t.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 100, "image/jpeg")},
            None,
            {},
            400,
            "bad_image",
            "image",
        ),
        ({"image": ("e.jpg", b"", "image/jpeg")}, None, {}, 400, "bad_image", "empty"),
        (
            None,
            {"image": "http://example.com/face.jpg"},
            {},
            400,
            "image_not_uploaded",
            "URLs and server paths",
        ),
        (None, {"image": "/etc/passwd"}, {}, 400, "image_not_uploaded", "URLs and server paths"),
        (
            {"other": ("a.txt", b"x", "text/plain")},
            {"image": "https://example.com/a.jpg"},
            {},
            400,
            "image_not_uploaded",
            "URLs and server paths",
        ),
        (
            None,
            None,
            {"Content-Type": "application/json"},
            415,
            "unsupported_media_type",
            "multipart/form-data",
        ),
    ],
)
def test_bad_bodies(server, files, data, headers, status, error, says):
    with server.client(headers=server.headers("read")) as client:
        if files is None and data is None:
            answer = client.post("/v1/detect", content=b'{"image": "/etc/passwd"}', headers=headers)
        else:
            answer = client.post("/v1/detect", files=files, data=data)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert says in answer.json()["detail"]


def test_truncated_jpeg_is_named(server, lfw_image):
    data = lfw_image("Colin_Powell", 1)
    with server.client(headers=server.headers("read")) as client:
        answer = client.post(
            "/v1/detect", files={"image": ("half.jpg", data[: len(data) // 2], "image/jpeg")}
        )
    assert answer.status_code == 400
    assert "truncated" in answer.json()["detail"]


@pytest.mark.parametrize(
    "name", ["..%2F..%2Fetc", "%2E%2E", "a%2Fb", "bad%0Aname", "tab%09", "%20padded"]
)
def test_path_like_identity_names_refused(server, lfw_image, name):
    with server.client(headers=server.headers("write")) as client:
        answer = client.post(
            f"/v1/identities/{name}/faces",
            files={"image": ("a.jpg", lfw_image("Colin_Powell", 1), "image/jpeg")},
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad_name"


def test_server_keeps_serving_with_bounded_memory(server, lfw_image):
    bomb = {"image": ("bomb.png", png_declaring(40000, 40000), "image/png")}
    big = {"image": ("big.jpg", b"\xff" * 900_000, "image/jpeg")}
    with server.client(headers=server.headers("read")) as client:
        client.post("/v1/detect", files=big)
        before = server.rss_mib()
        for _ in range(10):
            assert client.post("/v1/detect", files=bomb).status_code == 400
            assert client.post("/v1/detect", files=big).status_code == 400
            assert (
                client.get("/v1/identities", headers={"Authorization": "Bearer nope"}).status_code
                == 401
            )
        after = server.rss_mib()
        good = client.post(
            "/v1/detect", files={"image": ("a.jpg", lfw_image("Colin_Powell", 1), "image/jpeg")}
        )
    assert good.status_code == 200 and len(good.json()["faces"]) == 1
    assert after - before < 50, f"RSS grew {after - before:.0f} MiB over 30 hostile requests"


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _upload_head(server, length: int) -> bytes:
    return (
        "POST /v1/detect HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {server.keys['read']}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_that_never_comes_is_408_within_the_timeout(server):
    half = b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
    with _connect(server.url) as s:
        started = time.monotonic()
        s.sendall(_upload_head(server, 100_000) + half)
        answer = b""
        while chunk := s.recv(65536):  # ends when the server closes the connection
            answer += chunk
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "timeout"
    assert 2.5 < waited < 10, f"closed after {waited:.1f} s; --body-timeout is 3 s"


def test_a_client_that_leaves_mid_body_logs_no_traceback(server):
    for _ in range(5):
        with _connect(server.url) as s:
            s.sendall(_upload_head(server, 100_000) + b"--b\r\n" + b"x" * 500)
    with server.client() as client:  # the server still answers, and has logged no failure
        assert client.get("/healthz").status_code == 200
    time.sleep(0.5)
    log = server.running.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


def single_colour_png(side: int) -> bytes:
    """A ``side`` x ``side`` RGB PNG of one colour: ~116 KB for 6300 x 6300, ~120 MB decoded."""
    row = b"\0" + bytes([120, 130, 140]) * side
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


@pytest.mark.slow
def test_four_huge_single_colour_pngs_at_once_stay_within_2_gib(server):
    png = single_colour_png(6300)
    assert len(png) < 200_000
    before, peak, done = server.rss_mib(), [0.0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], server.rss_mib())
            time.sleep(0.02)

    async def four():
        async with httpx.AsyncClient(
            base_url=server.url, headers=server.headers("admin"), timeout=300
        ) as c:
            return await asyncio.gather(
                *(c.post("/v1/detect", files={"image": ("big.png", png)}) for _ in range(4))
            )

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        answers = asyncio.run(four())
    finally:
        done.set()
        watcher.join()
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 503} and 200 in statuses, [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 200:
            assert answer.json() == {"faces": [], "ignored": 0}
        else:
            assert answer.json()["error"] == "busy" and "retry-after" in answer.headers
    growth = peak[0] - before
    print(f"RSS {before:.0f} MiB before, {peak[0]:.0f} MiB at peak: +{growth:.0f} MiB")
    assert growth <= 2048, f"RSS grew {growth:.0f} MiB"


@pytest.mark.parametrize(
    ("path", "key", "status"),
    [("/v1/detect", None, 401), ("/v1/identities/Ann/faces", "read", 403)],
)
def test_the_key_is_refused_before_any_of_the_body_is_read(server, path, key, status):
    auth = f"Authorization: Bearer {server.keys[key]}\r\n" if key else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
    )
    started = time.monotonic()
    answer, body = raw_request(server.url, head)  # no body is ever sent
    assert answer == status and body["error"] in ("unauthorized", "forbidden")
    assert time.monotonic() - started < 2, "the server waited for the body"
