"""faceprint serve --open-set margin: /v1/identify decides by margin and says so."""

from __future__ import annotations

import pytest

from faceprint.gallery import Gallery
from tests.serve.conftest import make_keys
from tests.serve.test_api import jpeg

PEOPLE = ("Colin_Powell", "Tony_Blair", "Gerhard_Schroeder")


@pytest.mark.slow
def test_identify_by_margin(started, recognizer, lfw, lfw_image, tmp_path):
    gallery = tmp_path / "faces.gallery"
    with Gallery(gallery, recognizer=recognizer) as g:
        for name in PEOPLE:
            g.add(name, [lfw / "images" / name / f"{name}_{i:04d}.jpg" for i in (1, 2)])
    keys = make_keys(tmp_path / "keys.json")
    server = started("--open-set", "margin", gallery=gallery)
    with server.client(headers={"Authorization": f"Bearer {keys['read']}"}) as client:
        known = client.post("/v1/identify", files=jpeg(lfw_image("Tony_Blair", 5)), params={"k": 2})
        stranger = client.post("/v1/identify", files=jpeg(lfw_image("Abdullah_Gul", 1)))
    assert known.status_code == stranger.status_code == 200, known.text
    answer = known.json()
    assert answer["open_set"] == "margin" and 0.1 < answer["margin_threshold"] < 0.5
    [face] = answer["faces"]
    first, second = (c["distance"] for c in face["candidates"])
    assert face["name"] == "Tony_Blair" and face["margin"] == pytest.approx(
        first - second / 2, abs=1e-5
    )
    assert face["margin"] < answer["margin_threshold"]
    [other] = stranger.json()["faces"]
    assert other["name"] == "unknown" and other["margin"] >= answer["margin_threshold"]
