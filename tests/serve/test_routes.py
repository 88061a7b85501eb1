"""Routing, validation and the OpenAPI document, through FastAPI's TestClient (in process;
the real server is tested beside this, in test_api.py and test_hostile.py)."""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from faceprint.serve import KeyFile, ServeConfig

testclient = pytest.importorskip("fastapi.testclient", reason="faceprint[serve] is not installed")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    path = tmp_path_factory.mktemp("routes") / "keys.json"
    keys = KeyFile(path)
    return path, {scope: keys.create(f"t-{scope}", scope) for scope in ("read", "write", "admin")}


def _client(tmp_path_factory, keys, **settings):
    from faceprint.serve import create_app

    gallery = tmp_path_factory.mktemp("gallery") / "faces.gallery"
    config = ServeConfig(gallery=gallery, keys=keys[0], **settings)
    return testclient.TestClient(create_app(config))


@pytest.fixture(scope="module")
def client(tmp_path_factory, keys):
    with _client(tmp_path_factory, keys, detect_pixels=800_000) as client:
        yield client


def auth(keys, scope: str) -> dict:
    return {"Authorization": f"Bearer {keys[1][scope]}"}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encoded(image_format: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 16), (10, 200, 30)).save(out, image_format)
    return out.getvalue()


PNG = b"\x89PNG\r\n\x1a\n"
# Files on which Pillow raises something other than OSError: ValueError, SyntaxError, ...
DAMAGED = {
    "truncated IHDR": PNG + struct.pack(">I", 5) + b"IHDRabcde" + b"\0" * 4,
    "broken chunk": PNG
    + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20, 16, 8, 2, 0, 0, 0))
    + b"\0\0\0\x0c\xdeEND"
    + b"\0" * 16,
    "bad PPM header": b"P6\ni6 16\n255\n" + b"\0" * 960,
}


def mutations(image_format: str, count: int):
    """``count`` copies of a small image file with 1-4 random bytes changed (seeded)."""
    data = encoded(image_format)
    for i in range(count):
        rnd = random.Random(f"{image_format}{i}")
        damaged = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            damaged[rnd.randrange(len(damaged))] = rnd.randrange(256)
        yield bytes(damaged)


def test_openapi_declares_the_bearer_scheme_and_every_error(client):
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["HTTPBearer"]["description"],
    }
    error = {"$ref": "#/components/schemas/ErrorBody"}
    detect = spec["paths"]["/v1/detect"]["post"]
    assert {"HTTPBearer": ["read"]} in detect["security"]
    for status in ("400", "401", "403", "413", "415", "429", "503"):
        assert detect["responses"][status]["content"]["application/json"]["schema"] == error
    enrol = spec["paths"]["/v1/identities/{name}/faces"]["post"]
    assert {"HTTPBearer": ["write"]} in enrol["security"]
    assert {"200", "201", "404", "422"} <= set(enrol["responses"])
    assert "HTTPValidationError" not in str(spec)  # bad parameters answer 400 with ErrorBody
    metrics = spec["paths"]["/metrics"]["get"]
    assert list(metrics["responses"]["200"]["content"]) == ["text/plain"]
    assert "security" not in spec["paths"]["/healthz"]["get"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("PATCH", "/v1/identities", "GET"), ("GET", "/v1/detect", "POST"), ("PUT", "/metrics", "GET")],
)
def test_405_names_the_allowed_methods(client, keys, method, path, allow):
    answer = client.request(method, path, headers=auth(keys, "admin"))
    assert answer.status_code == 405
    assert answer.headers["allow"] == allow
    assert answer.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("face_id", [2**63, 2**64 + 5, -1, 0])
def test_face_ids_out_of_range_are_404(client, keys, face_id):
    answer = client.delete(f"/v1/faces/{face_id}", headers=auth(keys, "write"))
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        (("DELETE", "/v1/faces/abc"), "face_id"),
        (("POST", "/v1/identify?k=0"), "query.k"),
        (("POST", "/v1/identify?k=21"), "query.k"),
        (("POST", "/v1/identities/Ann/faces?faces=all"), "query.faces"),
    ],
)
def test_bad_parameters_are_400_naming_them(client, keys, request_, says):
    answer = client.request(*request_, headers=auth(keys, "admin"), files={"image": b"x"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad_request" and says in answer.json()["detail"]


def test_the_key_is_checked_before_parameters(client):
    answer = client.post("/v1/identify?k=99")
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"


def test_x_api_key_header_is_a_key_too(client, keys):
    answer = client.get("/v1/identities", headers={"X-API-Key": keys[1]["read"]})
    assert answer.status_code == 200 and answer.json() == {"identities": []}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damaged_images_are_bad_image(client, keys, name):
    answer = client.post(
        "/v1/detect", headers=auth(keys, "read"), files={"image": ("f", DAMAGED[name])}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad_image"
    assert answer.json()["detail"].startswith("image")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("image_format", ["PNG", "GIF", "TIFF", "BMP", "WEBP", "JPEG", "PPM"])
def test_randomly_damaged_files_never_fail_the_server(client, keys, image_format):
    statuses = {
        client.post("/v1/detect", headers=auth(keys, "read"), files={"image": data}).status_code
        for data in mutations(image_format, 150)
    }
    assert statuses <= {200, 400}, statuses


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])  # reduced after decoding; by draft
def test_large_images_are_searched_reduced_and_answered_in_their_own_pixels(
    client, keys, multiface, image_format
):
    original = Image.open(multiface).convert("RGB")
    big = original.resize((original.width * 2, original.height * 2), Image.Resampling.BICUBIC)
    payload = io.BytesIO()
    big.save(payload, image_format, quality=95)
    small = io.BytesIO()
    original.save(small, "PNG")
    # The client's --detect-pixels, 800 000, takes the original as it is and the upload at half
    # its size, by draft (JPEG) or box averaging (PNG).
    assert big.width * big.height / 4 <= 800_000 < big.width * big.height
    headers = auth(keys, "read")
    found = client.post("/v1/detect", headers=headers, files={"image": payload.getvalue()})
    reference = client.post("/v1/detect", headers=headers, files={"image": small.getvalue()})
    assert found.status_code == reference.status_code == 200
    # The same pixels were searched: the same faces, at twice the coordinates.
    # (Faces of about one size may swap places in the largest-first order: compared by x.)
    boxes = np.array(sorted(f["box"] for f in found.json()["faces"]))
    expected = np.array(sorted(f["box"] for f in reference.json()["faces"])) * 2
    assert len(boxes) >= 3 and boxes.shape == expected.shape
    np.testing.assert_allclose(boxes, expected, atol=16)  # 8 px of the searched image
    assert boxes[:, 2].max() > original.width  # in the upload's pixels, not the reduced ones


def test_read_only_gallery_reads_and_refuses_writes(tmp_path_factory, keys, lfw_image):
    with _client(tmp_path_factory, keys) as writer:  # makes the gallery, one identity
        gallery = writer.app.state.service.config.gallery
        enrolled = writer.post(
            "/v1/identities/Colin Powell/faces",
            headers=auth(keys, "write"),
            files={"image": lfw_image("Colin_Powell", 1)},
        )
        assert enrolled.status_code == 201
    from faceprint.serve import create_app

    app = create_app(ServeConfig(gallery=gallery, keys=keys[0], read_only=True))
    with testclient.TestClient(app) as reader:
        headers = auth(keys, "admin")
        listed = reader.get("/v1/identities", headers=headers)
        found = reader.post(
            "/v1/identify", headers=headers, files={"image": lfw_image("Colin_Powell", 2)}
        )
        refused = [
            reader.post("/v1/identities/Ann/faces", headers=headers, files={"image": b"x"}),
            reader.delete("/v1/identities/Colin Powell", headers=headers),
            reader.delete("/v1/faces/1", headers=headers),
        ]
    assert [i["name"] for i in listed.json()["identities"]] == ["Colin Powell"]
    assert found.json()["faces"][0]["name"] == "Colin Powell"
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"] == "read_only"


def test_docs_come_from_this_server(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/static-offline-docs/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    script = client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
