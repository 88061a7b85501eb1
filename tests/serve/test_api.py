"""The REST API against a real server: the same answers as the library, enrolment, scopes."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from faceprint.images import load_image


def jpeg(data: bytes, field: str = "image") -> dict:
    return {field: ("face.jpg", data, "image/jpeg")}


@pytest.mark.slow
def test_healthz_needs_no_key(server):
    with server.client() as client:
        answer = client.get("/healthz")
    assert answer.status_code == 200
    health = answer.json()
    assert health["status"] == "ok" and health["model"] == "ms-celeb-1m/box"
    assert health["detector"]["name"] == "mtcnn"
    assert health["detector"]["settings"]["min_face_size"] == 20


@pytest.mark.default_path
@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (("Colin_Powell", 1), ("Colin_Powell", 2), True),
        (("Colin_Powell", 1), ("Tony_Blair", 1), False),
    ],
)
def test_verify_matches_the_library(server, lfw, lfw_image, recognizer, a, b, same):
    files = jpeg(lfw_image(*a), "image_a") | jpeg(lfw_image(*b), "image_b")
    with server.client() as client:
        answer = client.post("/v1/verify", files=files, headers=server.headers("read"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    local = recognizer.verify(
        lfw / "images" / a[0] / f"{a[0]}_{a[1]:04d}.jpg",
        lfw / "images" / b[0] / f"{b[0]}_{b[1]:04d}.jpg",
    )
    assert body["same"] is same is local.same
    assert body["distance"] == pytest.approx(local.distance, abs=1e-4)
    assert body["similarity"] == pytest.approx(1 - local.distance**2 / 2, abs=1e-4)
    assert body["threshold"] == pytest.approx(recognizer.threshold, abs=1e-5)
    assert body["false_accept_rate"] == pytest.approx(local.false_accept_rate, rel=1e-3)
    np.testing.assert_allclose(body["faces"][0]["box"], local.faces[0].box, atol=0.01)


def test_detect_and_embed(server, lfw, lfw_image, recognizer):
    data = lfw_image("Tony_Blair", 3)
    with server.client(headers=server.headers("read")) as client:
        detected = client.post("/v1/detect", files=jpeg(data)).json()
        embedded = client.post("/v1/embed", files=jpeg(data)).json()
    [local] = recognizer.embed(load_image(lfw / "images/Tony_Blair/Tony_Blair_0003.jpg"))
    [face] = detected["faces"]
    np.testing.assert_allclose(face["box"], local.box, atol=0.01)
    assert face["probability"] > 0.99 and len(face["landmarks"]) == 5
    [with_embedding] = embedded["faces"]
    assert embedded["model"] == "ms-celeb-1m/box"
    vector = np.array(with_embedding["embedding"])
    assert vector.shape == (128,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(vector, local.embedding, atol=1e-5)


@pytest.mark.default_path
def test_enrol_identify_and_delete(server, lfw_image, tmp_path):
    from PIL import Image

    with server.client(headers=server.headers("write")) as client:
        created = client.post(
            "/v1/identities/Tony Blair/faces", files=jpeg(lfw_image("Tony_Blair", 1))
        )
        again = client.post(
            "/v1/identities/Tony Blair/faces", files=jpeg(lfw_image("Tony_Blair", 1))
        )
        assert created.status_code == 201, created.text
        assert again.status_code == 200 and again.json()["created"] is False
        face_id = created.json()["face_id"]

        known = client.post("/v1/identify", files=jpeg(lfw_image("Tony_Blair", 2)), params={"k": 3})
        stranger = client.post("/v1/identify", files=jpeg(lfw_image("Gerhard_Schroeder", 1)))
        [face] = known.json()["faces"]
        assert face["name"] == "Tony Blair" and face["known"] is True
        assert face["distance"] < known.json()["threshold"]
        assert face["candidates"][0]["face_id"] == face_id
        [other] = stranger.json()["faces"]
        assert other["name"] == "unknown" and other["known"] is False

        listed = client.get("/v1/identities").json()["identities"]
        entry = next(i for i in listed if i["name"] == "Tony Blair")
        assert entry["faces"] == 1 and entry["created"] > 0

        blank = tmp_path / "blank.png"
        Image.new("RGB", (200, 200), (128, 128, 128)).save(blank)
        no_face = client.post("/v1/identities/Nobody/faces", files={"image": blank.open("rb")})
        assert no_face.status_code == 422
        assert no_face.json() == {"error": "no_face", "detail": "not enrolled: no face found"}

        assert client.delete(f"/v1/faces/{face_id}").json() == {
            "face_id": face_id,
            "name": "Tony Blair",
        }
        assert client.delete(f"/v1/faces/{face_id}").status_code == 404
        gone = client.delete("/v1/identities/Tony Blair")
        assert (
            gone.status_code == 404 and "no identity called 'Tony Blair'" in gone.json()["detail"]
        )


def test_group_photo_is_ambiguous_for_enrolment(server, multiface):
    with server.client(headers=server.headers("write")) as client:
        answer = client.post("/v1/identities/Group/faces", files={"image": multiface.open("rb")})
    assert answer.status_code == 422
    assert answer.json()["error"] == "ambiguous_faces"
    assert "faces of similar size" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("who", "method", "path", "status", "error"),
    [
        (None, "GET", "/v1/identities", 401, "unauthorized"),
        ("revoked", "GET", "/v1/identities", 401, "unauthorized"),
        ("read", "DELETE", "/v1/identities/x", 403, "forbidden"),
        ("read", "GET", "/metrics", 403, "forbidden"),
        ("write", "GET", "/metrics", 403, "forbidden"),
        ("read", "GET", "/v1/nothing", 404, "not_found"),
    ],
)
def test_scopes(server, who, method, path, status, error):
    headers = server.headers(who) if who else {}
    with server.client() as client:
        answer = client.request(method, path, headers=headers)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    if status == 401:
        assert answer.headers["www-authenticate"] == "Bearer"


def test_metrics_for_admin(server, lfw_image):
    with server.client(headers=server.headers("admin")) as client:
        client.post("/v1/detect", files=jpeg(lfw_image("Colin_Powell", 3)))
        text = client.get("/metrics").text
    assert 'faceprint_requests_total{method="POST",route="/v1/detect",status="200"}' in text
    assert "faceprint_batch_images_count" in text
    assert "faceprint_queue_depth 0.0" in text
    assert "faceprint_pixels_held 0.0" in text  # every request has given its pixels back


def test_rate_limit_answers_429_with_retry_after(server):
    async def burst():
        async with httpx.AsyncClient(base_url=server.url, headers=server.headers("limited")) as c:
            return await asyncio.gather(*(c.get("/v1/identities") for _ in range(60)))

    answers = asyncio.run(burst())
    limited = [a for a in answers if a.status_code == 429]
    assert limited and len(limited) < 60
    assert all(a.status_code in (200, 429) for a in answers)
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["error"] == "rate_limited"


def test_docs_and_page(server):
    with server.client() as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
        page = client.get("/")
    for path in ("/v1/detect", "/v1/embed", "/v1/verify", "/v1/identify", "/v1/identities"):
        assert path in spec["paths"]
    assert "multipart/form-data" in spec["paths"]["/v1/verify"]["post"]["requestBody"]["content"]
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert page.status_code == 200 and 'id="verdict"' in page.text


def test_verify_without_a_face_is_422_naming_the_image(server, lfw_image, tmp_path):
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.new("RGB", (300, 200), (200, 190, 180)).save(blank)
    with server.client(headers=server.headers("read")) as client:
        answer = client.post(
            "/v1/verify",
            files={"image_a": lfw_image("Colin_Powell", 1), "image_b": blank.read_bytes()},
        )
        embedded = client.post("/v1/embed", files={"image": blank.read_bytes()})
    assert answer.status_code == 422
    assert answer.json() == {"error": "no_face", "detail": "no face found in 'image_b'"}
    assert embedded.status_code == 200 and embedded.json()["faces"] == []


def test_analyze_matches_the_library(server, lfw, lfw_image, recognizer):
    with server.client(headers=server.headers("read")) as client:
        answer = client.post("/v1/analyze", files=jpeg(lfw_image("Angelina_Jolie", 1)))
    assert answer.status_code == 200, answer.text
    [face] = answer.json()["faces"]
    [(region, local)] = recognizer.analyze(lfw / "images/Angelina_Jolie/Angelina_Jolie_0001.jpg")
    np.testing.assert_allclose(face["box"], region.box, atol=0.01)
    assert face["gender"] == local.gender == "female"
    assert face["gender_probability"] == pytest.approx(local.gender_probability, abs=1e-4)
    assert face["age"] == pytest.approx(local.age, abs=0.05) and 15 < face["age"] < 50
    assert face["emotion"] == local.emotion
    assert set(face["emotion_probabilities"]) == set(local.emotion_probabilities)
    assert sum(face["emotion_probabilities"].values()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("who", "files", "status", "error"),
    [
        (None, {"image": ("f.jpg", b"x", "image/jpeg")}, 401, "unauthorized"),
        ("read", {"other": ("f.jpg", b"x", "image/jpeg")}, 400, "missing_image"),
        ("read", {"image": ("f.jpg", b"not a jpeg", "image/jpeg")}, 400, "bad_image"),
    ],
)
def test_analyze_bad_requests(server, who, files, status, error):
    headers = server.headers(who) if who else {}
    with server.client(headers=headers) as client:
        answer = client.post("/v1/analyze", files=files)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error


def test_enrolment_refuses_a_low_quality_face(server, lfw_image):
    import io

    from PIL import Image

    clean = Image.open(io.BytesIO(lfw_image("Colin_Powell", 1))).convert("RGB")
    small = clean.resize((35, 35), Image.BILINEAR).resize(clean.size, Image.BILINEAR)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=90)
    with server.client(headers=server.headers("write")) as client:
        detected = client.post("/v1/detect", files=jpeg(buffer.getvalue())).json()
        refused = client.post("/v1/identities/Blurred/faces", files=jpeg(buffer.getvalue()))
        taken = client.post(
            "/v1/identities/Blurred/faces",
            files=jpeg(buffer.getvalue()),
            params={"min_quality": 0},
        )
        client.delete("/v1/identities/Blurred")
    assert len(detected["faces"]) == 1 and 0 <= detected["faces"][0]["quality"] <= 1
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["error"] == "low_quality"
    assert body["detail"].startswith("not enrolled: the face's quality 0.")
    assert taken.status_code == 201, taken.text


def test_every_face_answer_carries_its_quality(server, lfw_image):
    data = lfw_image("Tony_Blair", 3)
    with server.client(headers=server.headers("read")) as client:
        embedded = client.post("/v1/embed", files=jpeg(data)).json()
        analyzed = client.post("/v1/analyze", files=jpeg(data)).json()
    [face] = embedded["faces"]
    [same] = analyzed["faces"]
    assert 0.0 <= face["quality"] <= 1.0
    assert same["quality"] == face["quality"]  # both the model's score of one face
