"""Signed image links: they open one image of one task, and nothing else."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.scenarios import generation
from tests.client import Api


def finished(api: Api) -> dict:
    task = api.submit(generation("a link test"))
    final = asyncio.run(api.events(task["id"]))[-1]
    assert final["status"] == "SUCCEEDED", final["error"]
    return final


def test_link_opens_without_headers_and_tampering_is_forbidden(api: Api) -> None:
    task = finished(api)
    url = task["result"]["image"]["url"]
    opened = httpx.get(url, timeout=10)
    assert opened.status_code == 200
    # A PNG, never sniffed into anything else, and inert if rendered as a document.
    assert opened.headers["content-type"] == "image/png"
    assert opened.headers["x-content-type-options"] == "nosniff"
    policy = opened.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy, policy

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    later = int(query["expires"][0]) + 3600
    flipped = query["sig"][0][:-1] + ("0" if query["sig"][0][-1] != "0" else "1")
    for forged in (
        f"{base}?expires={later}&sig={query['sig'][0]}",  # longer life, same signature
        f"{base}?expires={query['expires'][0]}&sig={flipped}",
        f"{base}?expires=soon&sig={query['sig'][0]}",
        base,
        url.replace("/result.png", "/preview.png"),  # the other variant
    ):
        response = httpx.get(forged, timeout=10)
        assert response.status_code == 403, forged
        assert "Traceback" not in response.text


def test_link_of_one_task_does_not_open_another(api: Api) -> None:
    first, second = finished(api), finished(api)
    url = first["result"]["image"]["url"].replace(first["id"], second["id"])
    assert httpx.get(url, timeout=10).status_code == 403
