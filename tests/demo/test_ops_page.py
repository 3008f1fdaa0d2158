"""The operators' page at `/ops`, driven in headless Chromium against a live stack: it
loads under its strict CSP with nothing logged, shows a held running task with its
progress and cancels it (the task ends CANCELLED, as the API says), shows a failure by
its code, and tells a caller whose key is not an admin key so. Screenshots go to each
test's tmp path, named in the assertion messages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By

from tests.api.scenarios import held_generation, is_terminal
from tests.client import Api, image_b64
from tests.demo.browser import BrowserPage, chromium
from tests.stack import ALICE_KEY, OPS_KEY, ROOT, Stack
from tests.stepgate import HOLD_AT


class OpsPage(BrowserPage):
    """The page at `/ops`, driven through its form and tables; screenshots in `shots`."""

    def __init__(self, driver: WebDriver, base_url: str, shots: Path) -> None:
        super().__init__(driver, base_url)
        self.shots = shots

    def open(self) -> None:
        self.driver.get(self.base_url + "/ops")
        self.wait_until(lambda: self.driver.execute_script("return document.body.dataset.ready"))

    def connect(self, key: str) -> None:
        field = self.driver.find_element(By.ID, "admin-key")
        field.clear()
        field.send_keys(key)
        self.driver.find_element(By.ID, "connect").click()

    @property
    def state(self) -> str:
        return self.driver.find_element(By.ID, "connection").get_attribute("data-state") or ""

    @property
    def updates(self) -> int:
        return int(self.driver.execute_script("return document.body.dataset.updates ?? 0"))

    def error(self) -> tuple[str, str]:
        """The error box's code and text; ("", "") while hidden."""
        box = self.driver.find_element(By.ID, "error")
        return (box.get_attribute("data-code") or "", box.text) if box.is_displayed() else ("", "")

    def running_row(self, task_id: str) -> dict[str, Any] | None:
        """What the running tasks' table shows of a task, None when it is not listed."""
        return self.driver.execute_script(
            "const row = document.querySelector(`#running tr[data-task-id='${arguments[0]}']`);"
            "if (!row) return null;"
            "return { owner: row.cells[1].textContent, stage: row.cells[3].textContent,"
            "  progress: row.querySelector('progress').value,"
            "  cancellable: !row.querySelector('button.cancel').disabled };",
            task_id,
        )

    def column(self, table: str, index: int) -> list[str]:
        return self.driver.execute_script(
            "return [...document.querySelectorAll(`#${arguments[0]} tbody tr`)]"
            ".map((row) => row.cells[arguments[1]].textContent);",
            table,
            index,
        )

    def cancel(self, task_id: str) -> None:
        def press() -> bool:
            try:
                self.driver.find_element(
                    By.CSS_SELECTOR, f"#running button.cancel[data-task-id='{task_id}']"
                ).click()
            except StaleElementReferenceException:  # the table was redrawn meanwhile
                return False
            return True

        self.wait_until(press, timeout=10)

    def shot(self, name: str) -> Path:
        return self.screenshot(self.shots / f"{name}.png")

    def describe(self) -> str:
        shot = self.shot("at-failure")
        shown = self.driver.find_element(By.TAG_NAME, "main").text
        logs = [entry["message"] for entry in self.driver.get_log("browser")]
        return f"screenshot {shot}; page shows {shown!r}; browser log: {logs}"


@pytest.fixture
def page(browser_binaries: tuple[str, str], demo_stack: Stack, tmp_path: Path) -> Iterator[OpsPage]:
    with chromium(*browser_binaries) as driver:
        opened = OpsPage(driver, demo_stack.http_url, tmp_path / "screenshots")
        opened.open()
        yield opened


@pytest.fixture
def alice(demo_stack: Stack) -> Api:
    return Api(demo_stack.http_url, demo_stack.ws_url, key=ALICE_KEY)


def live(page: OpsPage, key: str = OPS_KEY) -> None:
    page.connect(key)
    page.wait_until(lambda: page.state == "live" and page.updates >= 1)


def test_the_page_and_its_assets_are_served_under_a_strict_csp(demo_stack: Stack) -> None:
    with httpx.Client(base_url=demo_stack.http_url, timeout=30) as http:
        served = http.get("/ops")
        assert served.status_code == 200
        assert served.headers["content-type"] == "text/html; charset=utf-8"
        csp = served.headers["content-security-policy"]
        for rule in ("default-src 'none'", "script-src 'self'", "style-src 'self'"):
            assert rule in csp, csp
        assert "connect-src 'self'" in csp and "unsafe-inline" not in csp, csp
        for name, content_type in {"ops.js": "text/javascript", "ops.css": "text/css"}.items():
            match = re.search(rf'"(/ops/{re.escape(name)}\?v=[0-9a-f]+)"', served.text)
            assert match, f"the page does not name {name} by version"
            asset = http.get(match.group(1))
            assert asset.headers["content-type"] == f"{content_type}; charset=utf-8"
            assert "immutable" in asset.headers["cache-control"]
            assert asset.content == (ROOT / "project" / "ops" / name).read_bytes()
        for missing in ("/ops/index.html", "/ops/nothing.js", "/ops/..%2Fops.py"):
            assert http.get(missing).status_code == 404, missing
        assert http.post("/ops").status_code == 405


def test_an_operator_sees_a_running_task_with_its_progress_and_cancels_it_from_the_page(
    page: OpsPage, alice: Api
) -> None:
    live(page)
    assert "image_generation" in page.column("queues", 0)
    assert page.column("workers", 4) == ["running"], page.describe()

    task = alice.submit(held_generation("cancelled from the ops page"))
    try:
        shown = page.wait_until(
            lambda: (row := page.running_row(task["id"])) and row["progress"] > 0 and row
        )
        assert shown["owner"] == "alice" and f"({HOLD_AT} of " in shown["stage"], shown
        assert shown["cancellable"], shown
        page.wait_until(lambda: task["id"] in page.column("workers", 2))
        shot = page.shot("running-task")
        assert page.browser_errors() == [], f"see {shot}"

        page.cancel(task["id"])
        ended = alice.wait_for(task["id"], is_terminal, timeout=60)
        assert ended["status"] == "CANCELLED", f"{ended}; see {shot}"
        page.wait_until(lambda: page.running_row(task["id"]) is None)
    finally:
        alice.cancel(task["id"])  # a no-op once cancelled: frees the worker otherwise
        alice.wait_for(task["id"], is_terminal, timeout=60)
    shot = page.shot("after-cancel")
    assert page.error() == ("", ""), f"see {shot}"
    assert page.browser_errors() == [], f"see {shot}"


def test_a_failure_shows_by_its_code_and_in_the_throughput(page: OpsPage, alice: Api) -> None:
    live(page)
    blank = image_b64(Image.new("RGB", (64, 64), "gray"))
    task = alice.submit({"faceSwap": {"sourceImage": blank, "targetImage": blank}})
    ended = alice.wait_for(task["id"], is_terminal, timeout=120)
    assert ended["error"]["code"] == "NO_FACE_FOUND", ended

    page.wait_until(lambda: "NO_FACE_FOUND" in page.column("failures", 0))
    row = page.column("failures", 0).index("NO_FACE_FOUND")
    page.driver.execute_script("document.getElementById('failures').scrollIntoView()")
    shot = page.shot("failures")
    assert page.column("failures", 1)[row] == "FACE_SWAP", f"see {shot}"
    assert int(page.column("failures", 2)[row]) >= 1, f"see {shot}"
    failed = page.driver.find_element(By.ID, "throughput").get_attribute("data-failed")
    assert int(failed or 0) >= 1, f"see {shot}"
    assert page.driver.find_elements(By.CSS_SELECTOR, "#sparkline rect.failed"), f"see {shot}"
    assert page.browser_errors() == [], f"see {shot}"


def test_a_key_that_is_not_an_admin_key_is_told_so_and_sees_nothing(page: OpsPage) -> None:
    page.connect(ALICE_KEY)
    code, text = page.wait_until(lambda: page.error()[0] and page.error())
    shot = page.shot("not-an-admin")
    assert code == "FORBIDDEN" and "admin key" in text, f"{text!r}; see {shot}"
    assert page.state == "refused" and page.updates == 0, f"see {shot}"
    assert page.column("running", 0) == [], f"see {shot}"

    page.connect("no-such-key-000000000000")
    code, text = page.wait_until(lambda: page.error()[0] and page.error())
    assert code == "UNAUTHENTICATED", f"{text!r}; see {page.shot('unknown-key')}"
    # The server's refusals are answers, not errors of the page or its policy.
    logged = [m for m in page.browser_errors() if "graphql" not in m.lower()]
    assert logged == [], f"see {shot}"
