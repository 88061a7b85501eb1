"""The library's routes and review page on a real ``faceprint serve --library`` on 127.0.0.1:
keys and scopes, then a real headless Chromium that names a cluster, merges two, moves a face
and forgets one, after which the store is read to see that it all happened."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from faceprint.library import Library
from faceprint.serve.process import spawn_server
from tests.library.conftest import make_folder
from tests.serve.conftest import make_keys

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PEOPLE = {"Colin_Powell": (1, 2, 3), "Tony_Blair": (1, 2, 3), "Gerhard_Schroeder": (1, 2, 3)}


@pytest.fixture(scope="module")
def served(tmp_path_factory, lfw, recognizer):
    """``(url, keys, library folder)`` of a server over a library of three people."""
    tmp = tmp_path_factory.mktemp("library-serve")
    photos = make_folder(lfw, None, tmp / "photos", PEOPLE)
    with Library(tmp / "library", recognizer=recognizer) as library:
        library.scan(photos)
        assert library.counts()["clusters"] == 3
    keys = make_keys(tmp / "keys.json")
    running = spawn_server(
        ["--library", str(tmp / "library"), "--keys", str(tmp / "keys.json")], tmp / "serve.log"
    )
    yield running.url, keys, tmp / "library"
    running.stop()


def _cluster_of(people: list[dict], folder: str) -> dict:
    [found] = [p for p in people if any(f"/{folder}/" in f["image"] for f in p["faces"])]
    return found


@pytest.mark.slow
def test_routes_keep_the_keys_and_scopes(served):
    url, keys, _ = served
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/v1/library/people").status_code == 401
        read = {"Authorization": f"Bearer {keys['read']}"}
        listed = client.get("/v1/library/people?thumbnails=1", headers=read).json()
        person = listed["people"][0]
        assert person["faces"][0]["thumbnail"].startswith("data:image/jpeg;base64,")
        assert person["faces"][-1]["thumbnail"] is None or len(person["faces"]) == 1
        face = person["faces"][0]["id"]
        jpeg = client.get(f"/v1/library/faces/{face}/thumbnail", headers=read)
        assert jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:2] == b"\xff\xd8"
        named = client.post(
            f"/v1/library/people/{person['id']}/name", json={"name": "X"}, headers=read
        )
        assert named.status_code == 403
        write = {"Authorization": f"Bearer {keys['write']}"}
        missing = client.post("/v1/library/people/999999/name", json={"name": "X"}, headers=write)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        bad = client.post(
            f"/v1/library/people/{person['id']}/name", json={"name": "a/b"}, headers=write
        )
        assert bad.status_code == 400 and "looks like a path" in bad.json()["detail"]
        assert client.get("/v1/library/audit", headers=write).status_code == 403
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        assert client.get("/v1/library/audit", headers=admin).json()["entries"][0]["what"] == "scan"
        assert client.get("/library").text.startswith("<!doctype html>")


@pytest.mark.slow
def test_review_page_in_chromium(served, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    url, keys, folder = served
    shots = Path(os.environ.get("FACEPRINT_SCREENSHOTS", tmp_path))
    with httpx.Client(base_url=url, timeout=60) as client:
        people = client.get(
            "/v1/library/people", headers={"Authorization": f"Bearer {keys['read']}"}
        ).json()["people"]
    colin, tony, gerhard = (_cluster_of(people, f) for f in PEOPLE)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{url}/library")
            page.fill("#key", keys["write"])
            page.click("#load")
            page.wait_for_selector(".card img")
            assert page.locator(".card").count() == 3
            page.screenshot(path=str(shots / "library-clusters.png"), full_page=True)

            def done(text: str) -> None:
                page.wait_for_function(
                    f"document.getElementById('status').textContent.includes({text!r})"
                )

            card = f'.card[data-id="{colin["id"]}"]'
            page.fill(f"{card} input.name", "Colin Powell")
            page.click(f"{card} button.name")
            done("is now Colin Powell")
            card = f'.card[data-id="{tony["id"]}"]'
            page.select_option(f"{card} select.merge", str(gerhard["id"]))
            page.click(f"{card} button.merge")
            done("merged into")
            assert page.locator(".card").count() == 2
            # Select one of Colin's faces and give it a name of its own.
            page.click(f'.card[data-id="{colin["id"]}"] img >> nth=0')
            page.fill("#move_name", "Somebody")
            page.screenshot(path=str(shots / "library-named.png"), full_page=True)
            page.click("#move")
            done("Moved 1 face")
            assert "Somebody" in page.text_content("#grid")
            page.click(f'.card[data-id="{gerhard["id"]}"] button.forget')
            done("forgotten")
            page.screenshot(path=str(shots / "library-after.png"), full_page=True)
        finally:
            browser.close()
    with Library(folder) as library:
        after = {p.name: p for p in library.people()}
        assert set(after) == {"Colin Powell", "Somebody"}
        assert len(after["Colin Powell"].faces) == 2 and len(after["Somebody"].faces) == 1
        images = {Path(f.image).parent.name for p in after.values() for f in p.faces}
        assert images == {"Colin_Powell"}  # Tony's and Gerhard's faces are gone
        log = library.audit_log()
        assert [e.what for e in log][-4:] == ["name", "merge", "move", "forget"]
        assert {e.who for e in log[-4:]} == {"key:test-write"}
