"""Headless Chromium (Debian's `chromium` and `chromium-driver`) driven by Selenium, and
the demo page as the tests see it.

Without the browser the tests that need it skip, unless ATELIER_REQUIRE_BROWSER=1
(as in CI), where they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver import ActionChains
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

WINDOW = (1280, 1000)
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

# Every change the page makes to the progress bar, step and preview, recorded in
# the page itself: events can arrive faster than a test could poll for them. And
# every request the page makes with fetch: its content type as the browser sends it
# (a form's with its boundary), its headers, and its body (a form as its parts).
RECORDER = """
const seen = (window.__seen = { progress: [], steps: [], previewLoads: 0, posts: [] });
const $ = (id) => document.getElementById(id);
new MutationObserver(() => seen.progress.push(Number($("progress").value)))
  .observe($("progress"), { attributes: true, attributeFilter: ["value"] });
new MutationObserver(() => seen.steps.push($("step").textContent))
  .observe($("step"), { childList: true, characterData: true, subtree: true });
$("preview").addEventListener("load", () => { seen.previewLoads += 1; });
const send = window.fetch;
window.fetch = (resource, init = {}) => {
  const body = init.body;
  const part = ([name, value]) => typeof value === "string"
    ? { name, value }
    : { name, filename: value.name, type: value.type, size: value.size };
  seen.posts.push({
    contentType: new Request(resource, init).headers.get("content-type"),
    headers: { ...init.headers },
    parts: body instanceof FormData ? [...body].map(part) : null,
    json: typeof body === "string" ? JSON.parse(body) : null,
  });
  return send.call(window, resource, init);
};
"""


def binaries() -> tuple[str, str]:
    """Paths of Chromium and its driver; skips the test (fails under
    ATELIER_REQUIRE_BROWSER=1) when either is missing."""
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    missing = [path for path in (browser, driver) if not Path(path).is_file()]
    if missing:
        reason = (
            f"headless Chromium is not installed ({', '.join(missing)} missing; "
            "apt-get install chromium chromium-driver)"
        )
        if os.environ.get("ATELIER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ATELIER_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return browser, driver


@contextmanager
def chromium(browser: str, driver_path: str, offline: bool = False) -> Iterator[WebDriver]:
    """A headless Chromium session, quit on exit. The driver's path is given, so Selenium
    Manager never looks for (or downloads) one. `offline`: no host name resolves but
    127.0.0.1 (a machine without the internet), and every request the page makes is
    kept for `requests`."""
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root in containers
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--force-prefers-reduced-motion",
    ):
        options.add_argument(argument)
    if offline:
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    logs = {"browser": "ALL", "performance": "ALL"} if offline else {"browser": "ALL"}
    options.set_capability("goog:loggingPrefs", logs)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class BrowserPage:
    """What every page under test shares: waiting on a condition (its failure saying
    what the page shows: `describe`), the browser's errors, screenshots."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url

    def wait_until(self, condition: Callable[[], Any], timeout: float = 60) -> Any:
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(
                lambda _: condition()
            )
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout} s; {self.describe()}") from None

    def describe(self) -> str:
        """What the page shows, and what the browser logged, for failure messages."""
        logs = [entry["message"] for entry in self.driver.get_log("browser")]
        return f"browser log: {logs}"

    def browser_errors(self) -> list[str]:
        """Errors the browser logged since the last look: failed loads, CSP refusals,
        exceptions in the page's script."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        assert self.driver.save_screenshot(str(path)), path
        return path


class DemoPage(BrowserPage):
    """The demo page at `/`, driven through its labelled controls."""

    def open(self) -> None:
        self.driver.get(self.base_url + "/")
        self.wait_until(lambda: self.driver.execute_script("return document.body.dataset.ready"))
        self.driver.execute_script(RECORDER)

    def element(self, element_id: str) -> WebElement:
        return self.driver.find_element(By.ID, element_id)

    def fill(self, **values: str | int) -> None:
        """Types into inputs by id (underscores for dashes): `fill(negative_prompt="x")`."""
        for name, value in values.items():
            field = self.element(name.replace("_", "-"))
            field.clear()
            field.send_keys(str(value))

    def choose_kind(self, kind: str) -> None:
        self.choose("kind", kind)

    def choose(self, element_id: str, value: str) -> None:
        Select(self.element(element_id)).select_by_value(value)

    def drag(self, element_id: str, *moves: tuple[int, int]) -> None:
        """Presses the mouse at an element's centre, moves it by each (dx, dy) in turn
        and lets go: a brush stroke on a canvas."""
        actions = ActionChains(self.driver).move_to_element(self.element(element_id))
        actions.click_and_hold()
        for dx, dy in moves:
            actions.move_by_offset(dx, dy)
        actions.release().perform()

    def painted(self) -> list[list[int]]:
        """The inpainting mask as painted on the page: each pixel's paint (its alpha on
        the mask's canvas, 0 = unpainted), rows of the image's size."""
        return self.driver.execute_script(
            "const canvas = document.getElementById('mask-canvas');"
            "const { width, height } = canvas;"
            "const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;"
            "const rows = [];"
            "for (let y = 0; y < height; y++) {"
            "  const row = [];"
            "  for (let x = 0; x < width; x++) row.push(data[(y * width + x) * 4 + 3]);"
            "  rows.push(row);"
            "}"
            "return rows;"
        )

    def set_checked(self, element_id: str, checked: bool) -> None:
        box = self.element(element_id)
        if box.is_selected() != checked:
            box.click()

    def run(self) -> None:
        self.element("submit").click()

    def cancel(self) -> None:
        self.element("cancel").click()

    @property
    def status(self) -> str:
        return self.element("status").get_attribute("data-status") or ""

    @property
    def step(self) -> int | None:
        """The step shown ("7 of 30" -> 7); None before a step-wise stage."""
        shown = self.element("step").text
        return int(shown.split(" of ")[0]) if " of " in shown else None

    @property
    def task_id(self) -> str:
        return self.element("task-id").text

    @property
    def error(self) -> tuple[str, str]:
        """The error box's code and text; ("", "") while hidden."""
        box = self.element("error")
        if not box.is_displayed():
            return "", ""
        return box.get_attribute("data-code") or "", box.text

    def seen(self) -> dict[str, Any]:
        return self.driver.execute_script("return window.__seen")

    def last_post(self) -> Post:
        """The last request the page sent to the API."""
        posts = self.seen()["posts"]
        assert posts, "the page sent no request"
        return Post(posts[-1])

    def image_size(self, image: str | WebElement) -> tuple[int, int]:
        """The natural size of a loaded <img> (by id, or the element); (0, 0) until it
        has loaded."""
        return tuple(
            self.driver.execute_script(
                "const img = arguments[0];"
                "return img.complete ? [img.naturalWidth, img.naturalHeight] : [0, 0];",
                self.element(image) if isinstance(image, str) else image,
            )
        )

    def result_figures(self) -> list[WebElement]:
        """The figures showing the result's images, in order (one per image)."""
        figures = self.driver.find_elements(By.CSS_SELECTOR, ".result-figure")
        return [figure for figure in figures if figure.is_displayed()]

    def result_sizes(self, timeout: float = 30) -> list[tuple[int, int]]:
        """The natural sizes of the result's images once all have loaded."""

        def sizes() -> list[tuple[int, int]]:
            images = [f.find_element(By.TAG_NAME, "img") for f in self.result_figures()]
            return [self.image_size(image) for image in images]

        self.wait_until(lambda: sizes() and (0, 0) not in sizes(), timeout)
        return sizes()

    def loaded_size(self, element_id: str, timeout: float = 30) -> tuple[int, int]:
        """The natural size of an <img> once it has loaded (a broken one never does)."""
        self.wait_until(lambda: self.image_size(element_id) != (0, 0), timeout)
        return self.image_size(element_id)

    def wait_for_status(self, *statuses: str, timeout: float = 60) -> str:
        return self.wait_until(lambda: self.status in statuses and self.status, timeout)

    def wait_for_end(self, timeout: float = 60) -> str:
        return self.wait_for_status(*TERMINAL, timeout=timeout)

    def describe(self) -> str:
        shown = {name: self.element(name).text for name in ("status", "stage", "step", "error")}
        logs = [entry["message"] for entry in self.driver.get_log("browser")]
        return f"page shows {shown}; data-status={self.status!r}; browser log: {logs}"

    def overflows_horizontally(self) -> bool:
        """Whether the page is wider than the window (it would scroll sideways)."""
        return self.driver.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth"
        )


class Post:
    """A request the page sent with fetch (recorded in the page: see RECORDER)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.content_type: str = raw["contentType"] or ""
        self.headers: dict[str, str] = raw["headers"]
        parts: list[dict[str, Any]] = raw["parts"] or []
        self.part_names = [part["name"] for part in parts]
        by_name = {part["name"]: part for part in parts}
        if parts:
            self.operations = json.loads(by_name["operations"]["value"])
            self.map: dict[str, list[str]] = json.loads(by_name["map"]["value"])
        else:
            self.operations = raw["json"]
            self.map = {}
        # Each file part by the path of the variable it gives (one path per part here).
        self.files = {paths[0]: by_name[name] for name, paths in self.map.items()}

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/form-data; boundary=")

    def __repr__(self) -> str:
        return f"Post({self.raw!r})"


def requests(driver: WebDriver) -> list[str]:
    """The URLs of every request and websocket the page opened since the last look
    (a session started `offline`)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


class GraphiQLPage(BrowserPage):
    """GraphiQL at `/graphql`, driven through its editors and buttons. The editors are
    CodeMirror instances: text is put in through their own API (as a paste would),
    which typing would garble with auto-closed brackets."""

    def open(self) -> None:
        self.driver.get(self.base_url + "/graphql")
        self.wait_until(lambda: self.driver.execute_script(GRAPHIQL_READY))
        self.driver.execute_script(GRAPHIQL_RECORDER)

    def write(self, which: str, text: str) -> None:
        """Sets the text of an editor: `query`, `variables`, `headers` or `response`."""
        if which == "headers":
            self.tab("Headers").click()
        self.driver.execute_script(f"{GRAPHIQL_EDITOR}.setValue(arguments[1])", which, text)

    def read(self, which: str) -> str:
        return self.driver.execute_script(f"return {GRAPHIQL_EDITOR}.getValue()", which)

    def tab(self, label: str) -> WebElement:
        return self.driver.find_element(
            By.XPATH, f"//div[contains(@class, 'graphiql-editor-tools')]//button[.='{label}']"
        )

    def execute_label(self) -> str:
        """The execute button's label, read in one go (GraphiQL re-renders it often)."""
        return self.driver.execute_script(
            "return document.querySelector('.graphiql-execute-button')?.ariaLabel ?? ''"
        )

    @property
    def running(self) -> bool:
        """Whether an operation runs (the execute button has become a stop button)."""
        return self.execute_label().startswith("Stop")

    def run(self, query: str) -> None:
        """Puts `query` (one operation) in the editor and presses the execute button."""
        self.write("query", query)
        # GraphiQL parses the editor's text a moment later; until then the button still
        # offers a menu of the operations the text had before.
        self.wait_until(lambda: self.driver.execute_script(SINGLE_OPERATION))
        self.driver.execute_script("window.__responses.length = 0")

        def press() -> bool:
            try:
                self.driver.find_element(By.CLASS_NAME, "graphiql-execute-button").click()
            except StaleElementReferenceException:  # re-rendered meanwhile: again
                return False
            return True

        self.wait_until(press, timeout=10)

    def responses(self) -> list[dict[str, Any]]:
        """Every result the response editor showed since the last `run`, in order."""
        shown = self.driver.execute_script("return window.__responses")
        return [json.loads(text) for text in shown if text.strip().startswith("{")]

    def describe(self) -> str:
        logs = [entry["message"] for entry in self.driver.get_log("browser")]
        shown = self.read("response") if self.driver.execute_script(GRAPHIQL_READY) else ""
        return f"response editor: {shown!r}; browser log: {logs}"


# The execute button runs the one operation at once (no menu of operations).
SINGLE_OPERATION = """
const button = document.querySelector(".graphiql-execute-button");
return button !== null && !button.hasAttribute("aria-haspopup");
"""
# The CodeMirror instance of the editor named by arguments[0].
GRAPHIQL_EDITOR = """(() => {
  const tools = document.querySelectorAll(".graphiql-editor-tool .graphiql-editor");
  const element = {
    query: document.querySelector(".graphiql-query-editor .graphiql-editor"),
    variables: tools[0],
    headers: tools[1],
    response: document.querySelector(".graphiql-response"),
  }[arguments[0]];
  return element.querySelector(".CodeMirror").CodeMirror;
})()"""
# GraphiQL has rendered its editors.
GRAPHIQL_READY = """
const editor = document.querySelector(".graphiql-response .CodeMirror");
return document.body.dataset.ready === "true" && editor !== null && "CodeMirror" in editor;
"""
# Every text the response editor shows, in order: a subscription's events replace each
# other faster than a test could poll for them.
GRAPHIQL_RECORDER = """
window.__responses = [];
const response = document.querySelector(".graphiql-response .CodeMirror").CodeMirror;
response.on("change", () => window.__responses.push(response.getValue()));
"""
