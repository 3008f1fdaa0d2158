"""The demo page at `/`, driven end to end in headless Chromium against a live stack.

The page sends chosen images (and the mask it draws) as file parts of a GraphQL
multipart request: tests/demo/browser.py records each request the page makes, so
the tests see what it sent besides what the task did with it."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from selenium.webdriver.common.by import By
from skimage import data as samples

from tests.api.scenarios import LONG_SIZE, LONG_STEPS
from tests.client import Api, png_size
from tests.demo.browser import DemoPage, Post
from tests.stack import ALICE_KEY, ROOT, Stack

SCREENSHOTS = ROOT / "var" / "screenshots"
STEPS = 24


def assert_uploaded(post: Post, files: dict[str, tuple[str, str, int]]) -> None:
    """`post` is a GraphQL multipart request by the spec (operations, map, then the
    files) with Alice's key, giving exactly `files`: each variable's path -> the part's
    file name, type and size; the operation has null where each file goes."""
    assert post.is_multipart, post
    assert post.headers.get("Authorization") == f"Bearer {ALICE_KEY}", post
    assert "Content-Type" not in post.headers, post  # the form's own, with its boundary
    assert post.part_names[:2] == ["operations", "map"], post
    assert sorted(post.part_names[2:]) == sorted(post.map), post
    sent = {path: (p["filename"], p["type"], p["size"]) for path, p in post.files.items()}
    assert sent == files, post
    for path in files:
        value = post.operations
        for key in path.split("."):
            value = value[key]
        assert value is None, post


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

        # What both pages import, revalidated on every load (an unversioned import).
        shared = http.get("/pagekit/livefeed.js")
        assert shared.headers["content-type"] == "text/javascript; charset=utf-8"
        assert shared.headers["cache-control"] == "no-cache"
        assert shared.content == (ROOT / "project" / "pagekit" / "livefeed.js").read_bytes()
        assert http.get("/pagekit").status_code == 404  # assets only, no page
        assert http.get("/pagekit/demo.js").status_code == 404


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
    submitted = demo.last_post()  # no files: plain JSON
    assert submitted.content_type == "application/json" and submitted.part_names == []
    assert submitted.operations["variables"]["input"]["imageGeneration"]["seed"] == 42
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
    size = photo.stat().st_size
    assert_uploaded(
        demo.last_post(),
        {"variables.input.backgroundRemoval.imageFile": ("astronaut.png", "image/png", size)},
    )
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


def noise(size: tuple[int, int], seed: int = 5) -> Image.Image:
    """A picture every pixel of which differs from its neighbours: a kept pixel can only
    come back from the input itself."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def test_image_to_image_turns_the_picked_picture_into_one_of_its_size(
    demo: DemoPage, demo_stack: Stack, tmp_path: Path
) -> None:
    photo = tmp_path / "astronaut.png"
    Image.fromarray(samples.astronaut()).resize((128, 96)).save(photo)
    demo.fill(api_key=ALICE_KEY)
    demo.choose_kind("IMAGE_TO_IMAGE")
    assert demo.element("strength").get_attribute("value") == "0.6"  # the API's default
    assert not demo.element("width").is_displayed()  # the picture gives the size
    demo.element("edit-image").send_keys(str(photo))
    demo.wait_until(lambda: demo.element("picture").is_displayed())
    assert demo.loaded_size("edit-picture") == (128, 96)
    assert not demo.element("mask-canvas").is_displayed()  # no mask to image-to-image
    demo.fill(prompt="an astronaut, watercolour", steps=8, strength=0.5, seed=7)
    demo.set_checked("refine-prompt", False)
    demo.set_checked("previews", True)
    demo.run()

    assert demo.wait_for_end() == "SUCCEEDED", demo.describe()
    assert demo.error == ("", "")
    size = photo.stat().st_size
    assert_uploaded(
        demo.last_post(),
        {"variables.input.imageToImage.imageFile": ("astronaut.png", "image/png", size)},
    )
    assert "4 of 4" in demo.seen()["steps"]  # 8 steps at strength 0.5: the last 4 run
    assert demo.result_sizes() == [(128, 96)]
    assert "seed 7" in demo.element("result-info").text
    link = demo.element("download")
    assert link.get_attribute("download") == f"atelier-{demo.task_id}.png"
    download = httpx.get(link.get_attribute("href") or "", timeout=30)
    assert download.status_code == 200 and png_size(download.content) == (128, 96)
    task = Api(demo_stack.http_url, demo_stack.ws_url).get(demo.task_id)
    assert task is not None and task["kind"] == "IMAGE_TO_IMAGE"
    assert task["result"]["metadata"]["strength"] == 0.5
    assert demo.browser_errors() == []
    demo.driver.execute_script("window.scrollTo(0, 0)")  # the result beside the form
    print(f"image-to-image screenshot: {demo.screenshot(SCREENSHOTS / 'demo-image-to-image.png')}")


def test_inpainting_repaints_what_the_brush_painted_and_keeps_the_rest(
    demo: DemoPage, demo_stack: Stack, tmp_path: Path
) -> None:
    original = noise((128, 96))
    picture = tmp_path / "noise.png"
    original.save(picture)
    demo.fill(api_key=ALICE_KEY)
    demo.choose_kind("INPAINTING")
    assert demo.element("strength").get_attribute("value") == "1"  # the API's default
    demo.fill(prompt="a red balloon", steps=4, seed=11)
    demo.set_checked("refine-prompt", False)

    demo.run()  # nothing painted yet: the page says so and sends nothing
    demo.element("edit-image").send_keys(str(picture))
    demo.wait_until(lambda: demo.element("picture").is_displayed())
    demo.run()
    demo.wait_until(lambda: demo.error[0] == "BAD_USER_INPUT")
    assert "Paint over" in demo.error[1]
    assert demo.element("picture").get_attribute("aria-invalid") == "true"
    assert not demo.element("task").is_displayed()

    demo.drag("mask-canvas", (40, 0), (0, 30))  # an L from the centre
    assert demo.error == ("", ""), "painting answers the page's complaint"
    painted = np.array(demo.painted())
    assert painted.shape == (96, 128)  # the picture's own size, whatever its size on screen
    repaint, keep = painted > 0, painted == 0
    assert 300 < repaint.sum() < 0.6 * painted.size, repaint.sum()
    print(
        f"inpainting mask screenshot: {demo.screenshot(SCREENSHOTS / 'demo-inpainting-mask.png')}"
    )
    demo.run()

    assert demo.wait_for_end() == "SUCCEEDED", demo.describe()
    assert demo.error == ("", "")
    post = demo.last_post()
    mask_size = post.files["variables.input.inpainting.maskFile"]["size"]
    assert_uploaded(
        post,
        {
            "variables.input.inpainting.imageFile": (
                "noise.png",
                "image/png",
                picture.stat().st_size,
            ),
            # The mask the page drew, as a PNG Blob from its canvas.
            "variables.input.inpainting.maskFile": ("mask.png", "image/png", mask_size),
        },
    )
    assert mask_size > 0
    assert demo.result_sizes() == [(128, 96)]
    made = httpx.get(demo.element("download").get_attribute("href") or "", timeout=30)
    assert made.status_code == 200
    pixels = np.asarray(Image.open(io.BytesIO(made.content)).convert("RGB"))
    source = np.asarray(original)
    assert np.array_equal(pixels[keep], source[keep])  # every unpainted pixel, as it was
    assert not np.array_equal(pixels[repaint], source[repaint])
    task = Api(demo_stack.http_url, demo_stack.ws_url).get(demo.task_id)
    assert task is not None and task["kind"] == "INPAINTING"
    assert demo.browser_errors() == []
    demo.driver.execute_script("window.scrollTo(0, 0)")  # the result beside the form
    print(f"inpainting screenshot: {demo.screenshot(SCREENSHOTS / 'demo-inpainting.png')}")


def test_several_images_are_each_shown_with_their_seed_and_download(
    demo: DemoPage, demo_stack: Stack
) -> None:
    demo.fill(api_key=ALICE_KEY, prompt="two foxes", width=64, height=64, steps=4, seed=42)
    demo.fill(num_images=2)
    demo.choose("scheduler", "euler-ancestral")
    demo.set_checked("refine-prompt", False)
    demo.run()

    assert demo.wait_for_end() == "SUCCEEDED", demo.describe()
    assert demo.result_sizes() == [(64, 64), (64, 64)]
    figures = demo.result_figures()
    downloads = []
    for number, (figure, seed) in enumerate(zip(figures, (42, 43), strict=True), start=1):
        assert f"{number} of 2" in figure.text and f"seed {seed}" in figure.text, figure.text
        link = figure.find_element(By.TAG_NAME, "a")
        assert link.get_attribute("download") == f"atelier-{demo.task_id}-{number}.png"
        download = httpx.get(link.get_attribute("href") or "", timeout=30)
        assert download.status_code == 200 and png_size(download.content) == (64, 64)
        downloads.append(download.content)
    assert downloads[0] != downloads[1]
    task = Api(demo_stack.http_url, demo_stack.ws_url).get(demo.task_id)
    assert task is not None and task["result"]["metadata"]["scheduler"] == "euler-ancestral"
    assert demo.browser_errors() == []
    print(f"two images screenshot: {demo.screenshot(SCREENSHOTS / 'demo-two-images.png')}")

    demo.fill(num_images=1, seed=42)  # the next task's result replaces them all
    demo.run()
    demo.wait_until(lambda: demo.status == "SUCCEEDED" and len(demo.result_figures()) == 1)
    assert demo.result_sizes() == [(64, 64)]


def test_a_mask_file_is_loaded_to_paint_on_and_one_of_another_size_refused(
    demo: DemoPage, tmp_path: Path
) -> None:
    noise((128, 96)).save(tmp_path / "picture.png")
    drawn = Image.new("L", (128, 96), 0)
    drawn.paste(255, (16, 8, 64, 56))
    drawn.save(tmp_path / "mask.png")
    Image.new("L", (96, 96), 255).save(tmp_path / "square.png")
    demo.choose_kind("INPAINTING")
    demo.element("edit-image").send_keys(str(tmp_path / "picture.png"))
    demo.wait_until(lambda: demo.element("picture").is_displayed())

    demo.element("mask-file").send_keys(str(tmp_path / "square.png"))
    demo.wait_until(lambda: demo.error[0] == "BAD_USER_INPUT")
    assert "the mask is 96x96, the image 128x96" in demo.error[1]
    assert demo.element("mask-file").get_attribute("aria-invalid") == "true"
    assert not np.array(demo.painted()).any()

    demo.element("mask-file").clear()
    demo.element("mask-file").send_keys(str(tmp_path / "mask.png"))
    demo.wait_until(lambda: np.array(demo.painted()).any())
    assert np.array_equal(np.array(demo.painted()), np.asarray(drawn))
    assert demo.error == ("", "")
    demo.element("mask-invert").click()
    assert np.array_equal(np.array(demo.painted()), 255 - np.asarray(drawn))
    demo.element("mask-clear").click()
    assert not np.array(demo.painted()).any()
    assert demo.element("mask-file").get_attribute("value") == ""
    assert demo.browser_errors() == []
    demo.driver.set_window_size(390, 1400)  # a phone
    assert not demo.overflows_horizontally()
    print(f"narrow mask screenshot: {demo.screenshot(SCREENSHOTS / 'demo-mask-narrow.png')}")


def test_an_upload_goes_without_a_key_to_be_refused_as_such_and_a_bad_file_marks_its_input(
    demo: DemoPage, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    noise((64, 48)).save(photo)
    demo.fill(api_key="")
    demo.choose_kind("BACKGROUND_REMOVAL")
    demo.element("cutout-image").send_keys(str(photo))
    demo.run()
    # The CSRF rule is met without a key (GraphQL-Require-Preflight): the server
    # goes on to say that a key is needed.
    demo.wait_until(lambda: demo.error[0])
    assert demo.error[0] == "UNAUTHENTICATED", demo.error
    post = demo.last_post()
    assert post.is_multipart and "Authorization" not in post.headers, post
    assert post.headers.get("GraphQL-Require-Preflight") == "1", post

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_bytes(b"%PDF-1.7 not a picture")
    demo.fill(api_key=ALICE_KEY)
    demo.element("cutout-image").clear()
    demo.element("cutout-image").send_keys(str(not_an_image))
    demo.run()
    demo.wait_until(lambda: demo.error[0] == "BAD_USER_INPUT")
    # The API names the file part (input.backgroundRemoval.imageFile): the page marks
    # the file input that gave it.
    cutout = demo.element("cutout-image")
    assert cutout.get_attribute("aria-invalid") == "true"
    assert demo.driver.switch_to.active_element == cutout
    assert not demo.element("task").is_displayed()
    assert demo.last_post().files["variables.input.backgroundRemoval.imageFile"]["size"] == 22
