"""The browser page in a real headless Chromium: pick two photos, read the verdict."""

from __future__ import annotations

import shutil

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page(browser, server):
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.goto(server.url)
    return page


def photo(lfw, name: str, number: int) -> str:
    return str(lfw / "images" / name / f"{name}_{number:04d}.jpg")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("b", "verdict"),
    [(("Colin_Powell", 2), "Same person"), (("Tony_Blair", 1), "Different people")],
)
def test_verdict_in_the_browser(page, server, lfw, tmp_path, b, verdict):
    page.fill("#key", server.keys["read"])
    page.set_input_files("#image_a", photo(lfw, "Colin_Powell", 1))
    page.set_input_files("#image_b", photo(lfw, *b))
    page.click("#verify")
    page.wait_for_function("document.getElementById('verdict').textContent.includes('(')")
    text = page.text_content("#verdict")
    assert text.startswith(verdict), text
    assert "distance" in text and "threshold" in text
    width = page.evaluate("document.getElementById('canvas_a').width")
    assert width == 250  # the photo was drawn at its own size, box on top
    page.screenshot(path=str(tmp_path / "verify.png"), full_page=True)


def test_wrong_key_is_shown(page, lfw):
    page.fill("#key", "fpk_000000000000_" + "x" * 43)
    page.set_input_files("#image_a", photo(lfw, "Colin_Powell", 1))
    page.set_input_files("#image_b", photo(lfw, "Colin_Powell", 2))
    page.click("#verify")
    page.wait_for_function("document.getElementById('verdict').textContent.startsWith('Error')")
    assert "wrong or revoked" in page.text_content("#verdict")


def test_who_is_this_in_the_browser(page, server, lfw, tmp_path):
    import httpx

    with open(photo(lfw, "Gerhard_Schroeder", 2), "rb") as f:
        enrolled = httpx.post(
            f"{server.url}/v1/identities/Gerhard Schroeder/faces",
            files={"image": f},
            headers=server.headers("write"),
            timeout=60,
        )
    assert enrolled.status_code in (200, 201)
    page.fill("#key", server.keys["read"])
    page.set_input_files("#image", photo(lfw, "Gerhard_Schroeder", 3))
    page.click("#identify")
    page.wait_for_function("document.getElementById('who').textContent.startsWith('Found')")
    assert page.text_content("#who") == "Found: Gerhard Schroeder"
    assert "Gerhard Schroeder (distance" in page.text_content("#people")
    page.screenshot(path=str(tmp_path / "identify.png"), full_page=True)


@pytest.mark.slow
def test_docs_render_with_no_network_but_the_server(browser, server):
    from urllib.parse import urlparse

    refused = []

    def only_the_server(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context = browser.new_context()
    try:
        context.route("**/*", only_the_server)
        page = context.new_page()
        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        paths = page.locator(".opblock-summary-path").all_text_contents()
        authorize = page.locator(".btn.authorize").count()
    finally:
        context.close()
    assert {"/v1/detect", "/v1/verify", "/v1/identities/{name}/faces"} <= set(paths), paths
    assert authorize == 1  # the bearer scheme is declared
    assert refused == [], refused
