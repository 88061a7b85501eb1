"""Hostile requests: each gets its status and a JSON error, and the server keeps serving with
bounded memory."""

from __future__ import annotations

import json
import socket
import struct
import zlib

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
