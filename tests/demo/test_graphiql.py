"""GraphiQL at `/graphql`, served whole by the web node (project/ide.py): it works
in a browser that reaches nothing but the node, under the demo page's CSP, and follows a
subscription over graphql-transport-ws."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from selenium.webdriver.common.by import By

from project import ide
from tests.demo.browser import GraphiQLPage, chromium, requests
from tests.stack import ALICE_KEY, BIN, ROOT, Stack
from tests.stepgate import HOLD_AT, held

SCREENSHOTS = ROOT / "var" / "screenshots"
HTML = {"Accept": "text/html"}
TASK_FIELDS = "id status progress step totalSteps error { code } result { seed image { width } }"


@pytest.fixture
def explorer(browser_binaries: tuple[str, str], demo_stack: Stack) -> Iterator[GraphiQLPage]:
    """GraphiQL open in a fresh headless Chromium that can reach only 127.0.0.1."""
    with chromium(*browser_binaries, offline=True) as driver:
        page = GraphiQLPage(driver, demo_stack.http_url)
        page.open()
        yield page


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def asset_urls(page: str) -> dict[str, str]:
    found = re.findall(r'"\?graphiql=([\w.-]+)&amp;v=([0-9a-f]+)"', page)
    return {name: f"/graphql?graphiql={name}&v={version}" for name, version in found}


def test_page_and_assets_are_served_with_their_types_policy_and_cache_rules(
    demo_stack: Stack,
) -> None:
    with httpx.Client(base_url=demo_stack.http_url, timeout=30) as http:
        page = http.get("/graphql", headers=HTML)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-store"
        nonce = re.search(r'<meta name="csp-nonce" content="([\w-]{20,})">', page.text)
        assert nonce, page.text
        # The demo page's policy, but for the styles GraphiQL's dialogs insert (with this
        # response's nonce) and the fonts its stylesheet carries.
        policy = directives(page.headers["content-security-policy"])
        demo = directives(http.get("/").headers["content-security-policy"])
        assert policy.pop("style-src") == f"'self' 'nonce-{nonce.group(1)}'"
        assert demo.pop("style-src") == "'self'"
        assert policy.pop("font-src") == "data:"
        assert policy.pop("img-src") == "'self' data:"
        demo.pop("img-src")
        assert policy == demo, (policy, demo)
        assert policy["script-src"] == "'self'" and policy["default-src"] == "'none'"
        assert "unpkg" not in page.text and "https://" not in page.text
        again = http.get("/graphql", headers=HTML)
        assert again.text != page.text, "a nonce must not be used twice"

        urls = asset_urls(page.text)
        assert set(urls) == set(ide.ASSETS), page.text
        for name, url in urls.items():
            identity = {"Accept-Encoding": "identity"}
            plain = http.get(url, headers=identity)
            assert plain.status_code == 200, name
            kind = "text/css" if name.endswith(".css") else "text/javascript"
            assert plain.headers["content-type"] == f"{kind}; charset=utf-8"
            assert plain.headers["x-content-type-options"] == "nosniff"
            assert "immutable" in plain.headers["cache-control"]
            revalidated = http.get(
                url, headers={**identity, "If-None-Match": plain.headers["etag"]}
            )
            assert revalidated.status_code == 304, name
            assert plain.content == ide.path(name).read_bytes()
            assert b"sourceMappingURL" not in plain.content
            unversioned = http.get(f"/graphql?graphiql={name}")
            assert unversioned.headers["cache-control"] == "no-cache"

        # GraphiQL itself is 3.5 MB: sent compressed to a browser that takes gzip.
        with http.stream("GET", urls["graphiql.js"], headers={"Accept-Encoding": "gzip"}) as raw:
            body = raw.read()
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.num_bytes_downloaded < 1_500_000, raw.num_bytes_downloaded
        assert body == ide.path("graphiql.js").read_bytes()

        for missing in ("index.html", "../graphiql.py", "vendor.mjs", "package.json", ""):
            assert http.get(f"/graphql?graphiql={missing}").status_code == 404, missing
        # Still GraphQL over GET and POST.
        assert http.get("/graphql", params={"query": "{ __typename }"}).json() == {
            "data": {"__typename": "Query"}
        }


def test_graphiql_and_its_assets_are_not_served_when_it_is_off(
    redis_url: str, stack_models: Path, tmp_path: Path
) -> None:
    with Stack(redis_url, tmp_path, stack_models, {"ATELIER_DEBUG": "0"}).held() as stack:
        stack.start_web()
        with httpx.Client(base_url=stack.http_url, timeout=30) as http:
            assert http.get("/graphql", headers=HTML).status_code == 404
            assert http.get("/graphql?graphiql=graphiql.js").status_code == 404


def test_offline_browser_runs_a_mutation_and_follows_a_subscription_to_the_end(
    explorer: GraphiQLPage, demo_stack: Stack
) -> None:
    explorer.write("headers", json.dumps({"Authorization": f"Bearer {ALICE_KEY}"}))
    # Held at a step (tests.stepgate) until the subscription has shown it running.
    explorer.run(
        "mutation { submitTask(input: {imageGeneration: "
        f'{{prompt: "{held("a fox in GraphiQL")}", width: 64, height: 64, steps: 12, seed: 5, '
        f"refinePrompt: false}}}}) {{ {TASK_FIELDS} }} }}"
    )
    submitted = explorer.wait_until(lambda: explorer.responses())[-1]
    assert "errors" not in submitted, submitted
    task = submitted["data"]["submitTask"]
    assert task["status"] in ("QUEUED", "RUNNING", "SUCCEEDED"), task

    explorer.run(f'subscription {{ taskProgress(id: "{task["id"]}") {{ {TASK_FIELDS} }} }}')
    explorer.wait_until(lambda: explorer.running, timeout=10)
    explorer.wait_until(
        lambda: any(r["data"]["taskProgress"]["step"] == HOLD_AT for r in explorer.responses())
    )
    demo_stack.release(task["id"])
    explorer.wait_until(lambda: not explorer.running)

    shown = explorer.responses()
    assert shown and all(not r.get("errors") for r in shown), shown
    events = [r["data"]["taskProgress"] for r in shown]
    final = events[-1]
    assert final["status"] == "SUCCEEDED" and final["progress"] == 1.0, events
    assert final["result"] == {"seed": 5, "image": {"width": 64}}, final
    # Shown live: the held step, then the steps after the release, then the end.
    assert all(e["status"] in ("QUEUED", "RUNNING") for e in events[:-1]), events
    steps = [e["step"] for e in events]
    assert HOLD_AT in steps and steps[-1] == 12 and len(events) >= 3, steps
    print(f"\nGraphiQL showed {len(events)} taskProgress events")
    assert explorer.browser_errors() == []

    others = [url for url in requests(explorer.driver) if not is_local(url, demo_stack)]
    assert others == [], others
    print(f"GraphiQL screenshot: {explorer.screenshot(SCREENSHOTS / 'graphiql.png')}")

    # A dialog inserts <style> elements: allowed by the page's nonce, not refused.
    explorer.driver.find_element(By.CSS_SELECTOR, "[aria-label='Open settings dialog']").click()
    explorer.wait_until(lambda: explorer.driver.find_elements(By.CSS_SELECTOR, "[role=dialog]"))
    assert explorer.driver.execute_script("return document.querySelectorAll('style').length")
    assert explorer.browser_errors() == []


def is_local(url: str, stack: Stack) -> bool:
    return url.startswith((stack.http_url + "/", stack.ws_url, "data:"))


# The page's fetcher on its own, in Node with GraphiQL, React and graphql-ws stubbed out.
FETCHER_HARNESS = """
import { readFileSync } from "node:fs";
import vm from "node:vm";

let props = null;
const seen = [];
const context = {
  URL,
  window: { location: { href: "http://node.test:8000/graphql?q=1#top" } },
  document: { getElementById: () => ({}), body: { dataset: {} } },
  React: { createElement: (type, given) => { props = given; return {}; } },
  ReactDOM: { createRoot: () => ({ render() {} }) },
  GraphiQL: Object.assign(() => null, {
    createFetcher: ({ url }) => (params, options) => {
      seen.push({ via: "http", url, headers: options?.headers });
      return Promise.resolve({ data: {} });
    },
  }),
  graphqlWs: {
    createClient: ({ url, connectionParams }) => ({
      subscribe(params) {
        seen.push({ via: "websocket", url, connectionParams });
        return () => {};
      },
      dispose() {},
    }),
  },
};
vm.runInNewContext(readFileSync(process.env.PAGE_JS, "utf8"), context);
for (const [query, operationName] of JSON.parse(process.env.CASES)) {
  const headers = { Authorization: "Bearer k" };
  const result = props.fetcher({ query, operationName }, { headers });
  result.subscribe?.({ next() {}, error() {}, complete() {} });
}
console.log(JSON.stringify(seen));
"""
FETCHER_CASES = [
    ('subscription { taskProgress(id: "1") { id } }', None, "websocket"),
    ('subscription Follow { taskProgress(id: "1") { id } }', "Follow", "websocket"),
    ("# subscription\n{ tasks { id } }", None, "http"),
    (
        'mutation { submitTask(input: {imageGeneration: {prompt: "subscription {"}}) { id } }',
        None,
        "http",
    ),
    ('query A($id: ID! = "x") { task(id: $id) { id } } subscription B { t }', "A", "http"),
    (
        "query A { tasks { id } } subscription B($id: ID!) { taskProgress(id: $id) { id } }",
        "B",
        "websocket",
    ),
    (
        'fragment F on Task { id } subscription { taskProgress(id: "1") { ...F } }',
        None,
        "websocket",
    ),
    ('"""a description { with braces"""\nsubscription S { t }', "S", "websocket"),
]


def test_the_page_sends_subscriptions_over_the_websocket_and_the_rest_over_http() -> None:
    cases = [[query, name] for query, name, _ in FETCHER_CASES]
    done = subprocess.run(
        [str(BIN / "node"), "--input-type=module", "-e", FETCHER_HARNESS],
        env={**os.environ, "PAGE_JS": str(ide.path("page.js")), "CASES": json.dumps(cases)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)

    assert [s["via"] for s in seen] == [via for *_, via in FETCHER_CASES], seen
    for call in seen:
        if call["via"] == "websocket":
            assert call["url"] == "ws://node.test:8000/graphql", call
            assert call["connectionParams"] == {"Authorization": "Bearer k"}, call
        else:
            assert call["url"] == "http://node.test:8000/graphql", call
            assert call["headers"] == {"Authorization": "Bearer k"}, call


def test_graphiql_s_packages_are_pinned_and_built_into_the_web_image() -> None:
    folder = ide.FOLDER
    package = json.loads((folder / "package.json").read_text())
    lock = json.loads((folder / "package-lock.json").read_text())
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} {version} is not pinned"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name

    stages = {
        match.group(1): stage
        for stage in re.split(r"(?m)^(?=FROM )", (ROOT / "Dockerfile").read_text())
        if (match := re.match(r"FROM \S+ AS (\w+)", stage))
    }
    builder = stages["graphiql"]
    assert "package-lock.json" in builder and "vendor.mjs" in builder, builder
    assert re.search(r"(?m)^RUN npm ci .*&& node vendor\.mjs$", builder), builder
    assert "COPY --from=graphiql /graphiql/dist project/graphiql/dist" in stages["web"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "**/node_modules" in ignored and "project/graphiql/dist" in ignored


def test_without_its_assets_graphiql_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "index.html").write_text('<script src="graphiql.js"></script>')
    monkeypatch.setattr(ide, "FOLDER", tmp_path)
    ide.asset.cache_clear()
    ide.page.cache_clear()
    try:
        for query in ({}, {"graphiql": "graphiql.js"}):
            request = SimpleNamespace(query_params=query, headers={})
            answer = ide._answer(request)  # type: ignore[arg-type]
            assert answer.status == 503, answer
            assert b"is missing: run `make install`" in answer.content
    finally:
        ide.asset.cache_clear()
        ide.page.cache_clear()
