"""Redis URLs: plain, TLS and Sentinel, parsed once and turned into every client we use.

The Sentinel tests run a real master and a real sentinel (the same redis-server
binary started with --sentinel) and reach the master only through the sentinel.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

from actors.store.redisurl import RedisTarget
from project.devredis import EmbeddedRedis, free_port, server_binary


def test_plain_and_tls_urls_pass_through() -> None:
    plain = RedisTarget.parse("redis://127.0.0.1:6379/2")
    tls = RedisTarget.parse("rediss://:secret@redis.example:6380/0?ssl_cert_reqs=required")

    assert not plain.uses_sentinel and not plain.tls
    assert tls.tls and not tls.uses_sentinel
    assert plain.channel_layer_host() == {"address": "redis://127.0.0.1:6379/2"}
    client = tls.client()
    kwargs = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    assert kwargs["password"] == "secret" and kwargs["port"] == 6380


def test_sentinel_url_names_sentinels_master_db_and_credentials() -> None:
    target = RedisTarget.parse(
        "rediss+sentinel://app:p%40ss@10.0.0.1:26379,10.0.0.2,[::1]:26380/prod/3"
        "?sentinel_password=s3"
    )

    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("::1", 26380))
    assert (target.master, target.db, target.username, target.password) == (
        "prod",
        3,
        "app",
        "p@ss",
    )
    assert target.tls and target.sentinel_password == "s3"
    host = target.channel_layer_host(socket_timeout=2)
    assert host["master_name"] == "prod" and host["db"] == 3 and host["ssl"] is True
    assert host["sentinel_kwargs"] == {"ssl": True, "password": "s3"}
    assert host["socket_timeout"] == 2


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379", "redis+sentinel://127.0.0.1:26379", "redis+sentinel:///mymaster"],
)
def test_unusable_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(ValueError, match=r"scheme|sentinels and a master"):
        RedisTarget.parse(url)


@pytest.fixture(scope="module")
def sentinel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A master and one sentinel watching it; the URL reaches the master through it."""
    folder = tmp_path_factory.mktemp("sentinel")
    master = EmbeddedRedis(folder / "master").start()
    port = free_port()
    config = folder / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
        f"sentinel monitor atelier 127.0.0.1 {master.port} 1\n"
    )
    sentinel = subprocess.Popen(
        [server_binary(), str(config), "--sentinel"], stdout=subprocess.DEVNULL
    )
    url = f"redis+sentinel://127.0.0.1:{port}/atelier/0"
    try:
        deadline = time.monotonic() + 15
        while True:  # until the sentinel knows the master
            try:
                RedisTarget.parse(url).client(socket_connect_timeout=0.5).ping()
                break
            except Exception:
                if time.monotonic() > deadline or sentinel.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        sentinel.terminate()
        sentinel.wait(10)
        master.stop()


def test_clients_reach_the_master_through_the_sentinel(sentinel_url: str) -> None:
    target = RedisTarget.parse(sentinel_url)
    client = target.client()
    client.set("atelier-sentinel-probe", b"ok", ex=60)

    async def read_async() -> bytes | None:
        async_client = target.async_client()
        try:
            return await async_client.get("atelier-sentinel-probe")
        finally:
            await async_client.aclose()

    assert asyncio.run(read_async()) == b"ok"


def test_channel_layer_delivers_through_the_sentinel(sentinel_url: str) -> None:
    async def round_trip() -> dict[str, str]:
        host = RedisTarget.parse(sentinel_url).channel_layer_host()
        layer = RedisPubSubChannelLayer(hosts=[host], prefix="sentinel-test")
        channel = await layer.new_channel()
        await layer.group_add("task.probe", channel)
        await layer.group_send("task.probe", {"type": "task.event", "task": "probe"})
        try:
            return await asyncio.wait_for(layer.receive(channel), 10)
        finally:
            await layer.flush()

    assert asyncio.run(round_trip()) == {"type": "task.event", "task": "probe"}


def test_a_task_runs_end_to_end_with_redis_behind_a_sentinel(
    sentinel_url: str, stack_models: Path, tmp_path: Path
) -> None:
    from tests.client import Api
    from tests.stack import running_stack

    task = {"imageGeneration": {"prompt": "x", "width": 64, "height": 64, "steps": 2}}
    env = {"ATELIER_PRELOAD": "IMAGE_GENERATION"}
    with running_stack(sentinel_url, tmp_path, stack_models, env) as stack:
        api = Api(stack.http_url, stack.ws_url)
        submitted = api.submit(task)
        events = asyncio.run(api.events(submitted["id"]))

    assert events[-1]["status"] == "SUCCEEDED", events[-1]
