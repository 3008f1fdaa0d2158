"""compose.yaml is a valid Compose file that deploys what the README says.

`docker-compose config` (Compose 1.x, which needs no Docker engine to validate)
interpolates and normalises the file; the tests read what it prints. Without
docker-compose they skip, unless ATELIER_REQUIRE_COMPOSE=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parent.parent.parent
COMPOSE = REPO / "compose.yaml"
REQUIRED = {"ATELIER_API_KEYS": "alice:a-key-0123456789", "ATELIER_SECRET_KEY": "a-secret"}


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("ATELIER_REQUIRE_COMPOSE") == "1":
            pytest.fail("docker-compose is not installed, and ATELIER_REQUIRE_COMPOSE=1")
        pytest.skip("docker-compose is not installed (ATELIER_REQUIRE_COMPOSE=1 makes this fail)")
    # Only what the file interpolates: nothing from the developer's own environment.
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(
        [binary, "-f", str(COMPOSE), "config"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    done = compose_config(REQUIRED)
    assert done.returncode == 0, done.stderr
    parsed = yaml.safe_load(done.stdout)
    assert isinstance(parsed, dict)
    return parsed


def dockerfile_stage(name: str) -> str:
    """The lines of the Dockerfile's stage `name`, from its FROM to the next."""
    text = (REPO / "Dockerfile").read_text()
    stages = re.split(r"(?m)^(?=FROM )", text)
    for stage in stages:
        if re.match(rf"FROM \S+ AS {name}\s*$", stage.splitlines()[0] if stage else ""):
            return stage
    raise AssertionError(f"no stage {name!r} in the Dockerfile")


def test_compose_file_validates_with_the_required_variables(config: dict[str, Any]) -> None:
    assert set(config["services"]) >= {"redis", "web", "worker"}
    for service in ("web", "worker"):
        env = config["services"][service]["environment"]
        assert env["ATELIER_API_KEYS"] == REQUIRED["ATELIER_API_KEYS"]
        assert env["ATELIER_SECRET_KEY"] == REQUIRED["ATELIER_SECRET_KEY"]


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_compose_file_is_refused_without_a_required_variable(missing: str) -> None:
    env = {name: value for name, value in REQUIRED.items() if name != missing}

    done = compose_config(env)

    assert done.returncode != 0
    assert missing in done.stderr, done.stderr


def test_redis_keeps_an_append_only_file_and_has_a_healthcheck(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in redis["volumes"]}
    conf_in_container = redis["command"][-1]
    conf_on_host = Path(mounted[conf_in_container])
    assert conf_on_host == REPO / "deploy" / "redis.conf"
    settings = dict(
        line.split(None, 1)
        for line in conf_on_host.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert settings["appendonly"] == "yes"
    assert settings["appendfsync"] == "everysec"
    assert "/data" in mounted  # the append-only file outlives the container
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    web_and_worker = (config["services"]["web"], config["services"]["worker"])
    for service in web_and_worker:
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def test_web_is_built_without_torch_and_serves_metrics_on_its_port(
    config: dict[str, Any],
) -> None:
    web = config["services"]["web"]
    assert web["build"]["target"] == "web"
    stage = dockerfile_stage("web")
    assert "torch" not in stage and "[worker]" not in stage
    assert re.search(r"(?m)^RUN pip install \.$", stage)
    assert {"published": 8000, "target": 8000} in web["ports"]
    assert "readyz" in " ".join(web["healthcheck"]["test"])


def test_worker_reserves_a_gpu_and_mounts_the_models(config: dict[str, Any]) -> None:
    worker = config["services"]["worker"]
    assert worker["build"]["target"] == "worker"
    assert '".[worker]"' in dockerfile_stage("worker")
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    model_dir = worker["environment"]["ATELIER_MODEL_DIR"]
    assert any(volume.split(":")[1] == model_dir for volume in worker["volumes"])


def test_worker_stop_grace_outlasts_its_shutdown_grace(config: dict[str, Any]) -> None:
    worker = config["services"]["worker"]
    grace = int(worker["environment"]["ATELIER_SHUTDOWN_GRACE"])
    stop = worker["stop_grace_period"]
    assert stop.endswith("s")
    # Dramatiq's --worker-shutdown-timeout (60 s in the image) sits between the two.
    assert int(stop[:-1]) > 60 > grace


def test_worker_serves_metrics_on_its_port(config: dict[str, Any]) -> None:
    worker = config["services"]["worker"]
    env = worker["environment"]
    assert env["ATELIER_WORKER_METRICS_HOST"] == "0.0.0.0"
    assert str(env["ATELIER_WORKER_METRICS_PORT"]) in worker["expose"]
    scrape = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    ports = {
        job["job_name"]: sd["port"]
        for job in scrape["scrape_configs"]
        for sd in job["dns_sd_configs"]
    }
    assert ports == {"atelier-web": 8000, "atelier-worker": int(env["ATELIER_WORKER_METRICS_PORT"])}


def test_web_and_worker_log_json(config: dict[str, Any]) -> None:
    for service in ("web", "worker"):
        assert config["services"][service]["environment"]["ATELIER_LOG_FORMAT"] == "json"
    for stage in ("web", "worker"):
        assert "ATELIER_LOG_FORMAT=json" in dockerfile_stage(stage)


def test_monitoring_profile_adds_prometheus_and_a_provisioned_grafana(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert prometheus["profiles"] == grafana["profiles"] == ["monitoring"]
    assert re.fullmatch(r"grafana/grafana-oss:\d+\.\d+\.\d+", grafana["image"])
    assert {"published": 3000, "target": 3000} in grafana["ports"]
    mounted = {}
    for volume in grafana["volumes"]:
        host, container, mode = volume.split(":")
        assert mode == "ro", volume
        mounted[container] = Path(host)
    assert mounted["/etc/grafana/provisioning"] == REPO / "deploy" / "grafana" / "provisioning"
    dashboards = mounted["/var/lib/grafana/dashboards"]
    assert (dashboards / "atelier.json").is_file()
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].startswith(
        "/var/lib/grafana/dashboards/"
    )
    assert "prometheus" in grafana["depends_on"]
