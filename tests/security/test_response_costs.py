"""What one caller's reads may cost: inline images per response, and queries per second.

The reported document (15 aliases of `tasks(limit: 6)` selecting `base64`, about
1 KB) built a 318 MB response; now it is refused before anything is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client import Api
from tests.security.hostile import fast_generation
from tests.stack import BOB_KEY, Stack, running_stack

MAX_IMAGES, READ_BURST = 4, 8
COSTS_ENV = {
    "ATELIER_MAX_INLINE_IMAGES": str(MAX_IMAGES),
    "ATELIER_READ_RATE": "1",
    "ATELIER_READ_BURST": str(READ_BURST),
}
GALLERY = "{ tasks(limit: 6) { id result { image { base64 } } } }"
HUGE = (
    "{ "
    + " ".join(f"a{n}: tasks(limit: 6) {{ result {{ image {{ base64 }} }} }}" for n in range(15))
    + " }"
)


@pytest.fixture(scope="module")
def costs_stack(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("costs-stack")
    with running_stack(redis_url, folder, stack_models, COSTS_ENV) as running:
        yield running


def test_a_response_of_too_many_inline_images_is_refused_before_it_is_built(
    costs_stack: Stack,
) -> None:
    api = Api(costs_stack.http_url, costs_stack.ws_url)
    for _ in range(2):
        task = api.submit(fast_generation())
        asyncio.run(api.events(task["id"]))
    for document, requested in ((HUGE, 90), (GALLERY, 6)):
        response = api.http.post("/graphql", json={"query": document})
        body = response.json()
        assert len(response.content) < 2_000, len(response.content)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "RESPONSE_TOO_LARGE", error
        assert error["extensions"]["requested"] == requested
        assert error["extensions"]["limit"] == MAX_IMAGES
        assert body.get("data") is None
    # Within the limit, and with links instead of inline bytes, a gallery is fine.
    small = api.data("{ tasks(limit: 2) { result { image { base64 } } } }")
    assert all(t["result"]["image"]["base64"] for t in small["tasks"])
    links = api.data("{ tasks(limit: 6) { result { image { url } } } }")
    assert len(links["tasks"]) == 2


def test_reads_past_the_callers_rate_are_refused_with_retry_after(costs_stack: Stack) -> None:
    bob = Api(costs_stack.http_url, costs_stack.ws_url, key=BOB_KEY)
    answers = [bob.execute("{ tasks(limit: 1) { id } }") for _ in range(READ_BURST + 3)]
    refused = [a["errors"][0] for a in answers if a.get("errors")]
    assert refused, "no read was refused past the burst"
    assert len(answers) - len(refused) >= READ_BURST  # the burst itself is served
    for error in refused:
        assert error["extensions"]["code"] == "RATE_LIMITED", error
        assert error["extensions"]["reason"] == "READ_RATE"
        assert 0 < error["extensions"]["retryAfter"] <= 1.0
    # Submissions have limits of their own: a caller out of reads may still submit.
    assert bob.submit(fast_generation())["id"]
