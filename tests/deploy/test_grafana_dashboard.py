"""deploy/grafana: the dashboard compose's `monitoring` profile provisions.

Cheap checks first: every panel reads the provisioned data source, uses only metrics
our code defines and covers every family issue #18 lists, takes rates over
`$__rate_interval`, aggregates the cluster figures (which every web node reports alike)
with max or min, and parses (`promtool check rules`).

Then the truth: a real Prometheus scrapes a live stack (web node and worker on a Redis
of the test's own) while tasks succeed, fail, are cancelled under a live subscription
and deliver webhooks, and a Redis pause makes the web's scrape fail; every panel's
query then returns a number.
"""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from PIL import Image

from project.devredis import EmbeddedRedis, free_port
from tests.actors.webhooks.receiver import receiving
from tests.api.scenarios import generation, held_generation, is_terminal
from tests.client import Api, image_b64
from tests.deploy.dashboard import GRAFANA, REPO, dashboard, panels, targets
from tests.deploy.prometheus import Prometheus, binary, running_prometheus
from tests.observability.scrape import scrape
from tests.stack import Stack, running_stack

# The families issue #18 asks the dashboard to show.
FAMILIES = {
    "atelier_queue_tasks",
    "atelier_tasks_running",
    "atelier_tasks_finished_total",
    "atelier_tasks_failed_total",
    "atelier_task_wait_seconds_bucket",
    "atelier_task_run_seconds_bucket",
    "atelier_task_step_seconds_bucket",
    "atelier_websocket_connections",
    "atelier_subscriptions",
    "atelier_redis_errors_total",
    "atelier_webhook_deliveries_total",
}
# Read from Redis by whichever web node is scraped: the same on every node.
CLUSTER = re.compile(r"\batelier_(queue_|tasks_|redis_up|redis_memory_)")
# Histogram series the first round of tasks makes, which the dashboard takes quantiles
# or means of: a second round makes each grow once Prometheus has scraped it.
FIRST_ROUND = (
    'atelier_task_wait_seconds_count{kind="IMAGE_GENERATION"}',
    'atelier_task_run_seconds_count{kind="IMAGE_GENERATION", outcome="SUCCEEDED"}',
    'atelier_task_step_seconds_count{kind="IMAGE_GENERATION"}',
    'atelier_worker_batch_tasks_count{kind="IMAGE_GENERATION"}',
)
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")
SECRET = "whsec_" + base64.b64encode(b"dashboard-test-webhook-secret-01").decode()
SUBMIT = """
mutation Submit($input: SubmitTaskInput!, $webhook: WebhookInput) {
  submitTask(input: $input, webhook: $webhook) { id }
}"""


def data_source_uid() -> str:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())
    (source,) = provisioned["datasources"]
    assert source["type"] == "prometheus"
    return str(source["uid"])


def defined_metrics() -> set[str]:
    """Every metric name our code spells out (`atelier_...` string literals)."""
    names: set[str] = set()
    for package in ("actors", "graph", "project"):
        for module in (REPO / package).rglob("*.py"):
            names.update(re.findall(r"""["'](atelier_[a-z0-9_]+)["']""", module.read_text()))
    return names


def test_every_panel_reads_the_provisioned_prometheus() -> None:
    uid = data_source_uid()
    shown = panels()
    assert shown and dashboard()["schemaVersion"] >= 39
    ids = [panel["id"] for panel in dashboard()["panels"] if panel["type"] == "row"]
    ids += [panel["id"] for panel in shown]
    assert len(ids) == len(set(ids)), ids
    for panel in shown:
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
    for target in targets():
        assert target.datasource == {"type": "prometheus", "uid": uid}, target.name


def test_the_dashboard_shows_every_family_asked_for_and_only_metrics_our_code_defines() -> None:
    defined = defined_metrics()
    used = set().union(*(target.metrics for target in targets()))

    unknown = {
        name
        for name in used
        if not any(name.removesuffix(s) in defined for s in SUFFIXES if name.endswith(s))
    }
    assert not unknown, f"metrics no code defines: {sorted(unknown)}"
    assert used >= FAMILIES, f"not shown: {sorted(FAMILIES - used)}"


def test_rates_span_grafana_s_rate_interval() -> None:
    for target in targets():
        assert set(target.ranges) <= {"$__rate_interval"}, target.name


def test_cluster_figures_are_aggregated_with_max_or_min_never_summed() -> None:
    cluster = [target for target in targets() if CLUSTER.search(target.expr)]
    assert cluster
    for target in cluster:
        assert re.match(r"(max|min)\b", target.expr), target.name


def test_every_target_parses(tmp_path: Path) -> None:
    promtool = binary("promtool")
    rules = [
        {"record": f"dashboard:target_{index}", "expr": target.instant}
        for index, target in enumerate(targets())
    ]
    (tmp_path / "rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )

    checked = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout, checked.stdout


def test_grafana_reads_the_dashboards_folder_from_the_prometheus_service() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    grafana = compose["grafana"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in grafana["volumes"]}
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/atelier.yaml").read_text())
    (provider,) = providers["providers"]
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    (source,) = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    assert "9090:9090" in compose["prometheus"]["ports"]
    assert grafana["profiles"] == compose["prometheus"]["profiles"] == ["monitoring"]


@pytest.fixture(scope="module")
def prometheus_program() -> str:
    """First of the live test's fixtures: without Prometheus it skips before any stack
    starts."""
    return binary("prometheus")


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """The stack's own Redis: the test pauses it, which must hold up no one else's."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def worker_metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def stack(
    private_redis: EmbeddedRedis,
    stack_models: Path,
    tmp_path_factory: pytest.TempPathFactory,
    worker_metrics_port: int,
) -> Iterator[Stack]:
    env = {
        "ATELIER_WORKER_METRICS_PORT": str(worker_metrics_port),
        "ATELIER_PRELOAD": "IMAGE_GENERATION",
        "ATELIER_WEBHOOK_SECRET": SECRET,
        "ATELIER_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        "ATELIER_WEBHOOK_POLL": "0.05",
    }
    folder = tmp_path_factory.mktemp("dashboard")
    with running_stack(private_redis.url, folder, stack_models, env) as running:
        yield running


@pytest.fixture(scope="module")
def prometheus(
    prometheus_program: str,
    stack: Stack,
    worker_metrics_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Prometheus]:
    jobs = {
        "atelier-web": f"127.0.0.1:{stack.port}",
        "atelier-worker": f"127.0.0.1:{worker_metrics_port}",
    }
    folder = tmp_path_factory.mktemp("prometheus")
    with running_prometheus(prometheus_program, folder, jobs) as server:
        yield server


@pytest.fixture
def api(stack: Stack) -> Api:
    return Api(stack.http_url, stack.ws_url)


def submit(api: Api, task: dict[str, Any], hook: str | None = None) -> str:
    webhook = {"url": hook, "events": ["COMPLETED"]} if hook else None
    return str(api.data(SUBMIT, input=task, webhook=webhook)["submitTask"]["id"])


def ended(api: Api, task_id: str) -> dict[str, Any]:
    return api.wait_for(task_id, is_terminal, timeout=120)


def succeed_and_fail(api: Api, hook: str) -> None:
    """A generation that succeeds (delivering its webhook) and a face swap that fails
    in the worker: no face in a blank picture."""
    blank = image_b64(Image.new("RGB", (64, 64), (128, 128, 128)))
    made = submit(api, generation("dashboard", steps=3), hook)
    swapped = submit(api, {"faceSwap": {"sourceImage": blank, "targetImage": blank}})
    assert ended(api, made)["status"] == "SUCCEEDED"
    failed = ended(api, swapped)
    assert (failed["status"], failed["error"]["code"]) == ("FAILED", "NO_FACE_FOUND"), failed


def cancel_while_followed(api: Api, prometheus: Prometheus) -> None:
    """A task held RUNNING under a live subscription until Prometheus has seen both,
    then cancelled."""
    task_id = submit(api, held_generation("dashboard, cancelled"))
    api.wait_for(task_id, lambda task: task["status"] == "RUNNING")
    followed: Future[list[dict[str, Any]]] = Future()

    def follow() -> None:
        try:
            followed.set_result(asyncio.run(api.events(task_id, timeout=180)))
        except BaseException as error:
            followed.set_exception(error)

    threading.Thread(target=follow, daemon=True).start()
    live = ["max(atelier_tasks_running) >= 1", "sum(atelier_subscriptions) >= 1"]
    assert not prometheus.wait_until(live), f"never seen: {live}"
    api.cancel(task_id)
    assert followed.result(timeout=180)[-1]["status"] == "CANCELLED"


def fail_a_scrape_on_redis(redis_url: str, web_metrics: str) -> None:
    """Pause every Redis client until one of the web's scrapes times out reading the
    cluster's figures: counted in `atelier_redis_errors_total`."""
    with redis.Redis.from_url(redis_url) as client:
        for _ in range(10):
            client.client_pause(3000)  # ms; the web gives a scrape's reads 1 s
            if scrape(web_metrics, timeout=30).value("atelier_redis_up") == 0:
                return
    pytest.fail("no scrape of the web met the paused Redis")


def test_every_panel_returns_data_from_prometheus_scraping_a_live_stack(
    prometheus_program: str,
    api: Api,
    stack: Stack,
    private_redis: EmbeddedRedis,
    prometheus: Prometheus,
) -> None:
    up = ['up{job="atelier-web"} == 1', 'up{job="atelier-worker"} == 1']
    assert not prometheus.wait_until(up), prometheus.query("up")

    with receiving() as receiver:
        succeed_and_fail(api, receiver.url)
        cancel_while_followed(api, prometheus)
        # A quantile is a number only where its histogram grew between two scrapes,
        # and a series appears with its first observation: so a second round.
        unseen = prometheus.wait_until(list(FIRST_ROUND))
        assert not unseen, f"never scraped: {unseen}"
        succeed_and_fail(api, receiver.url)
        assert len(receiver.wait_for(2, timeout=120)) >= 2
    fail_a_scrape_on_redis(private_redis.url, f"{stack.http_url}/metrics")

    shown = targets()
    empty = set(prometheus.wait_until([target.instant for target in shown], timeout=180))
    assert not empty, "panels without data: " + ", ".join(
        f"{target.name}: {target.instant}" for target in shown if target.instant in empty
    )
