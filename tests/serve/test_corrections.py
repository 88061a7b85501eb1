"""Corrections through a real server: reject ("not this person") and confirm ("this is"), with
the enrolment's scope, kept by the gallery across a restart of the service."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.serve.conftest import make_keys, start_server


def jpeg(data: bytes) -> dict:
    return {"image": ("face.jpg", data, "image/jpeg")}


def names(client, data: bytes) -> list[str]:
    answer = client.post("/v1/identify", files=jpeg(data))
    assert answer.status_code == 200, answer.text
    assert answer.json()["rule"] in ("faces", "template", "mix")
    return [f["name"] for f in answer.json()["faces"]]


@pytest.mark.slow
def test_reject_and_confirm_survive_a_restart(tmp_path, lfw_image):
    keys = make_keys(tmp_path / "keys.json")
    wrong, other = lfw_image("Tony_Blair", 2), lfw_image("Tony_Blair", 3)
    server = start_server(tmp_path)
    try:
        with server.client(headers={"Authorization": f"Bearer {keys['write']}"}) as client:
            spec = client.get("/openapi.json").json()["paths"]
            for route in ("rejections", "confirmations"):
                declared = spec[f"/v1/identities/{{name}}/{route}"]["post"]
                assert {"HTTPBearer": ["write"]} in declared["security"]
                assert {"201", "422"} <= set(declared["responses"])
            enrolled = client.post(
                "/v1/identities/Tony Blair/faces", files=jpeg(lfw_image("Tony_Blair", 1))
            )
            assert enrolled.status_code == 201, enrolled.text
            assert names(client, wrong) == ["Tony Blair"]

            read = {"Authorization": f"Bearer {keys['read']}"}
            refused = client.post(
                "/v1/identities/Tony Blair/rejections", files=jpeg(wrong), headers=read
            )
            assert refused.status_code == 403 and refused.json()["error"] == "forbidden"

            rejected = client.post("/v1/identities/Tony Blair/rejections", files=jpeg(wrong))
            assert rejected.status_code == 201, rejected.text
            body = rejected.json()
            assert body["name"] == "Tony Blair" and body["negative_id"] == 1
            assert len(body["box"]) == 4
            assert names(client, wrong) == ["unknown"]
            assert names(client, other) == ["Tony Blair"]

            confirmed = client.post(
                "/v1/identities/Tony Blair/confirmations", files=jpeg(lfw_image("Tony_Blair", 4))
            )
            assert confirmed.status_code == 201, confirmed.text
            assert confirmed.json()["created"] is True and confirmed.json()["face_id"] > 0
            twice = client.post(
                "/v1/identities/Tony Blair/confirmations", files=jpeg(lfw_image("Tony_Blair", 4))
            )
            assert twice.status_code == 200 and twice.json()["created"] is False

            nobody = client.post("/v1/identities/Nobody/rejections", files=jpeg(wrong))
            assert nobody.status_code == 404 and "no identity called 'Nobody'" in nobody.text
            blank = io.BytesIO()
            Image.new("RGB", (200, 200), (128, 128, 128)).save(blank, "PNG")
            no_face = client.post(
                "/v1/identities/Tony Blair/rejections",
                files={"image": ("blank.png", blank.getvalue(), "image/png")},
            )
            assert no_face.status_code == 422 and no_face.json()["error"] == "no_face"
    finally:
        server.stop()

    restarted = start_server(tmp_path)
    try:
        with restarted.client(headers={"Authorization": f"Bearer {keys['read']}"}) as client:
            assert names(client, wrong) == ["unknown"]
            assert names(client, other) == ["Tony Blair"]
            listed = client.get("/v1/identities").json()["identities"]
            assert [(i["name"], i["faces"]) for i in listed] == [("Tony Blair", 2)]
    finally:
        restarted.stop()
