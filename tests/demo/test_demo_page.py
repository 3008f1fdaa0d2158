"""The demo page at `/`, driven end to end in headless Chromium against a live stack."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from skimage import data as samples

from tests.api.scenarios import LONG_SIZE, LONG_STEPS
from tests.client import Api, png_size
from tests.demo.browser import DemoPage
from tests.stack import ALICE_KEY, ROOT, Stack

SCREENSHOTS = ROOT / "var" / "screenshots"
STEPS = 24


def test_page_and_assets_are_served_with_their_types_and_cache_rules(demo_stack: Stack) -> None:
    with httpx.Client(base_url=demo_stack.http_url, timeout=30) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-cache"
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert http.get("/", headers={"If-None-Match": page.headers["etag"]}).status_code == 304

        types = {"demo.js": "text/javascript", "demo.css": "text/css"}
        for name, content_type in types.items():
            match = re.search(rf'"(/demo/{re.escape(name)}\?v=[0-9a-f]+)"', page.text)
            assert match, f"the page does not name {name} by version"
            versioned = http.get(match.group(1))
            assert versioned.status_code == 200
            assert versioned.headers["content-type"] == f"{content_type}; charset=utf-8"
            assert versioned.headers["x-content-type-options"] == "nosniff"
            assert "immutable" in versioned.headers["cache-control"]
            assert versioned.content == (ROOT / "project" / "demo" / name).read_bytes()
            assert http.get(f"/demo/{name}").headers["cache-control"] == "no-cache"

        for missing in ("/demo/index.html", "/demo/nothing.js", "/demo/..%2Fdemo.py"):
            assert http.get(missing).status_code == 404, missing
        assert http.post("/").status_code == 405


def test_generation_shows_live_progress_previews_and_a_downloadable_result(
    demo: DemoPage,
) -> None:
    demo.fill(api_key=ALICE_KEY, prompt="a red fox in the snow", width=128, height=128)
    demo.fill(steps=STEPS, seed=42)
    demo.set_checked("refine-prompt", False)
    demo.set_checked("previews", True)
    demo.run()

    assert demo.wait_for_end() == "SUCCEEDED", demo.describe()
    assert demo.error == ("", "")
    seen = demo.seen()
    progress = seen["progress"]
    assert all(a <= b for a, b in itertools.pairwise(progress)), progress
    assert progress[-1] == 1.0 and any(0 < p < 1 for p in progress), progress
    steps = seen["steps"]
    assert f"{STEPS // 2} of {STEPS}" in steps and f"{STEPS} of {STEPS}" in steps, steps
    assert demo.element("percent").text == "100%"
    assert demo.element("cancel").get_attribute("disabled") is not None
    assert demo.element("submit").get_attribute("disabled") is None
    demo.wait_until(lambda: demo.seen()["previewLoads"] >= 1, timeout=10)

    assert demo.loaded_size("result") == (128, 128)
    link = demo.element("download")
    assert link.get_attribute("download") == f"atelier-{demo.task_id}.png"
    assert "seed 42" in demo.element("result-info").text
    download = httpx.get(link.get_attribute("href") or "", timeout=30)
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert download.content.startswith(b"\x89PNG") and png_size(download.content) == (128, 128)

    assert demo.browser_errors() == []
    print(f"demo page screenshot: {demo.screenshot(SCREENSHOTS / 'demo-page.png')}")
    demo.driver.set_window_size(390, 1400)  # a phone
    assert not demo.overflows_horizontally()
    print(f"narrow window screenshot: {demo.screenshot(SCREENSHOTS / 'demo-page-narrow.png')}")


def test_cancel_stops_a_running_task_and_says_so(demo: DemoPage, demo_stack: Stack) -> None:
    demo.fill(api_key=ALICE_KEY, prompt="a long one", width=LONG_SIZE, height=LONG_SIZE)
    demo.fill(steps=LONG_STEPS)
    demo.set_checked("previews", False)
    demo.run()
    demo.wait_until(lambda: (demo.step or 0) >= 2)
    demo.cancel()

    assert demo.wait_for_end() == "CANCELLED", demo.describe()
    assert demo.element("status").text == "Cancelled"
    code, text = demo.error
    assert code == "CANCELLED" and text.startswith("CANCELLED:"), text
    assert 2 <= (demo.step or 0) < LONG_STEPS, demo.element("step").text
    assert demo.element("cancel").get_attribute("disabled") is not None
    assert demo.element("submit").get_attribute("disabled") is None
    assert not demo.element("result-figure").is_displayed()
    task = Api(demo_stack.http_url, demo_stack.ws_url).get(demo.task_id)
    assert task is not None and task["status"] == "CANCELLED" and task["step"] < LONG_STEPS
    print(f"cancelled task screenshot: {demo.screenshot(SCREENSHOTS / 'demo-cancelled.png')}")


def test_background_removal_uploads_the_picked_file(demo: DemoPage, tmp_path: Path) -> None:
    photo = tmp_path / "astronaut.png"
    Image.fromarray(samples.astronaut()).resize((128, 96)).save(photo)
    demo.fill(api_key=ALICE_KEY)
    demo.choose_kind("BACKGROUND_REMOVAL")
    assert not demo.element("prompt").is_displayed()
    demo.element("cutout-image").send_keys(str(photo))
    demo.run()

    assert demo.wait_for_end() == "SUCCEEDED", demo.describe()
    assert demo.loaded_size("result") == (128, 96)
    cutout = httpx.get(demo.element("download").get_attribute("href") or "", timeout=30)
    assert cutout.status_code == 200
    image = Image.open(io.BytesIO(cutout.content))
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (128, 96)
    alpha = np.asarray(image)[..., 3]
    assert alpha.min() < 64 and alpha.max() > 192, "the cutout keeps no subject or no background"
    assert demo.browser_errors() == []
    print(f"cutout screenshot: {demo.screenshot(SCREENSHOTS / 'demo-cutout.png')}")


def test_api_errors_are_shown_with_their_code_and_mark_the_field(demo: DemoPage) -> None:
    demo.fill(api_key="not-a-key", prompt="anything", steps=2)
    demo.run()
    demo.wait_until(lambda: demo.error[0])
    code, text = demo.error
    assert code == "UNAUTHENTICATED" and text.startswith("UNAUTHENTICATED:"), text
    assert demo.element("submit").get_attribute("disabled") is None

    demo.fill(api_key=ALICE_KEY, image_model="no-such-model")
    demo.run()
    demo.wait_until(lambda: demo.error[0] == "BAD_USER_INPUT")
    model = demo.element("image-model")
    assert model.get_attribute("aria-invalid") == "true"
    assert demo.driver.switch_to.active_element == model
    assert not demo.element("task").is_displayed(), "a refused task must not be shown"

    demo.open()  # the key is kept for the tab's session
    assert demo.element("api-key").get_attribute("value") == ALICE_KEY
