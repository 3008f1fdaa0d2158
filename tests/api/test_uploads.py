"""File uploads on a live stack (daphne, a Dramatiq worker, Redis), by the GraphQL
multipart request spec: curl's `-F` as in the spec's examples, Python gql's upload
support, and requests that get the spec or its CSRF rule wrong.

A file sent as a part gives the same task as the same bytes sent inline as base64.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, FileVar, gql
from gql.transport.httpx import HTTPXTransport

from tests.api.scenarios import is_terminal, mask_of, picture
from tests.client import Api, image_b64
from tests.stack import ALICE_KEY, Stack

SUBMIT = """
mutation Submit($input: SubmitTaskInput!) {
  submitTask(input: $input) { id kind status }
}"""
IMAGES = (
    "query R($id: ID!) { task(id: $id) { status error { code } result { images { base64 } } } }"
)
AUTH = {"Authorization": f"Bearer {ALICE_KEY}"}


def endpoint(stack: Stack) -> str:
    return stack.http_url + "/graphql"


def png(size: tuple[int, int] = (64, 64), seed: int = 3) -> bytes:
    out = io.BytesIO()
    picture(size, seed).save(out, "PNG")
    return out.getvalue()


def result_images(api: Api, task_id: str) -> list[bytes]:
    done = api.wait_for(task_id, is_terminal, timeout=120)
    assert done["status"] == "SUCCEEDED", done["error"]
    task = api.data(IMAGES, id=task_id)["task"]
    return [base64.b64decode(image["base64"]) for image in task["result"]["images"]]


def multipart(
    operations: dict[str, Any], files: dict[str, bytes], file_map: dict[str, list[str]]
) -> dict[str, Any]:
    """httpx's `files` for a spec request: operations, then map, then the file parts."""
    parts: dict[str, Any] = {
        "operations": (None, json.dumps(operations), "application/json"),
        "map": (None, json.dumps(file_map), "application/json"),
    }
    parts.update({name: (f"{name}.png", data, "image/png") for name, data in files.items()})
    return parts


def upload_one(
    stack: Stack, data: bytes, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    operations = {
        "query": SUBMIT,
        "variables": {"input": {"backgroundRemoval": {"imageFile": None}}},
    }
    return httpx.post(
        endpoint(stack),
        files=multipart(
            operations, {"0": data}, {"0": ["variables.input.backgroundRemoval.imageFile"]}
        ),
        headers=AUTH if headers is None else headers,
        timeout=30,
    )


def test_curl_form_upload_runs_the_task_on_the_file(api: Api, stack: Stack, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(png(seed=5))
    operations = {
        "query": SUBMIT,
        "variables": {"input": {"backgroundRemoval": {"imageFile": None}}},
    }
    out = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail-with-body", endpoint(stack),
            "-H", f"Authorization: Bearer {ALICE_KEY}",
            "-F", f"operations={json.dumps(operations)}",
            "-F", 'map={"0": ["variables.input.backgroundRemoval.imageFile"]}',
            "-F", f"0=@{image};type=image/png",
        ],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    task = json.loads(out.stdout)["data"]["submitTask"]
    assert task["kind"] == "BACKGROUND_REMOVAL"

    inline = api.submit(
        {"backgroundRemoval": {"image": base64.b64encode(image.read_bytes()).decode()}}
    )
    assert result_images(api, task["id"]) == result_images(api, inline["id"])


def test_gql_uploads_two_files_in_one_request(api: Api, stack: Stack, tmp_path: Path) -> None:
    size = (64, 64)
    image, mask = tmp_path / "image.png", tmp_path / "mask.png"
    image.write_bytes(png(size, seed=8))
    mask_of(size, (16, 8, 40, 56)).save(mask, "PNG")
    fields = {"prompt": "a fox", "steps": 4, "seed": 9, "refinePrompt": False}
    transport = HTTPXTransport(url=endpoint(stack), headers=AUTH, timeout=60)
    with Client(transport=transport) as session:
        answer = session.execute(
            gql(SUBMIT),
            variable_values={
                "input": {
                    "inpainting": {
                        **fields,
                        "imageFile": FileVar(str(image), content_type="image/png"),
                        "maskFile": FileVar(str(mask), content_type="image/png"),
                    }
                }
            },
            upload_files=True,
        )
    uploaded = answer["submitTask"]
    assert uploaded["kind"] == "INPAINTING"

    inline = api.submit(
        {
            "inpainting": {
                **fields,
                "image": base64.b64encode(image.read_bytes()).decode(),
                "mask": image_b64(mask_of(size, (16, 8, 40, 56))),
            }
        }
    )
    assert result_images(api, uploaded["id"]) == result_images(api, inline["id"])


def test_a_chunked_upload_without_content_length_is_read_whole(api: Api, stack: Stack) -> None:
    parts = multipart(
        {"query": SUBMIT, "variables": {"input": {"backgroundRemoval": {"imageFile": None}}}},
        {"0": png(seed=6)},
        {"0": ["variables.input.backgroundRemoval.imageFile"]},
    )
    request = httpx.Request("POST", endpoint(stack), files=parts, headers=AUTH)
    body = request.read()

    def chunks() -> Any:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    headers = {**AUTH, "Content-Type": request.headers["Content-Type"]}
    answer = httpx.post(endpoint(stack), content=chunks(), headers=headers, timeout=30)
    assert "content-length" not in {k.lower() for k in answer.request.headers}
    task = answer.json()["data"]["submitTask"]
    assert len(result_images(api, task["id"])) == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "http://localhost"}, {"Content-Language": "en"}],
    ids=["no-header", "origin-only", "simple-header"],
)
def test_a_multipart_request_without_a_preflight_header_is_refused(
    stack: Stack, headers: dict[str, str]
) -> None:
    answer = upload_one(stack, png(), headers=headers)
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "CSRF_PREFLIGHT_REQUIRED"
    assert "GraphQL-Require-Preflight" in error["message"]


@pytest.mark.parametrize("name", ["GraphQL-Require-Preflight", "Apollo-Require-Preflight"])
def test_a_preflight_header_passes_the_csrf_rule_and_auth_still_applies(
    stack: Stack, name: str
) -> None:
    answer = upload_one(stack, png(), headers={name: "1"})
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"

    answer = upload_one(stack, png(), headers={**AUTH, name: "1"})
    assert answer.json()["data"]["submitTask"]["status"] == "QUEUED"


def test_a_file_that_is_not_an_image_is_bad_input_on_its_field(stack: Stack) -> None:
    answer = upload_one(stack, b"%PDF-1.7 not an image")
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "input.backgroundRemoval.imageFile"


def test_a_file_and_inline_bytes_for_one_image_are_refused(stack: Stack) -> None:
    operations = {
        "query": SUBMIT,
        "variables": {
            "input": {"backgroundRemoval": {"imageFile": None, "image": image_b64(picture())}}
        },
    }
    answer = httpx.post(
        endpoint(stack),
        files=multipart(
            operations, {"0": png()}, {"0": ["variables.input.backgroundRemoval.imageFile"]}
        ),
        headers=AUTH,
        timeout=30,
    )
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "input.backgroundRemoval.image"
    assert "imageFile" in error["message"]


def test_a_string_for_an_upload_in_json_is_bad_input_on_its_field(api: Api) -> None:
    answer = api.execute(SUBMIT, input={"backgroundRemoval": {"imageFile": image_b64(picture())}})
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "input.backgroundRemoval.imageFile"
    assert "multipart" in error["message"]


@pytest.mark.parametrize(
    ("file_map", "said"),
    [
        (["variables.input.backgroundRemoval.imageFile"], '"map" field must be'),
        ({"0": "variables.input.backgroundRemoval.imageFile"}, '"map" field must be'),
        ({"1": ["variables.input.backgroundRemoval.imageFile"]}, "lacks"),
        ({"0": ["variables.nothing.here"]}, "names no value"),
        ({"0": ["variables.input.backgroundRemoval.imageFile.deeper"]}, "names no value"),
    ],
    ids=["list", "path-not-list", "missing-part", "no-such-path", "into-a-leaf"],
)
def test_a_map_the_spec_does_not_allow_is_a_400_saying_why(
    stack: Stack, file_map: Any, said: str
) -> None:
    operations = {
        "query": SUBMIT,
        "variables": {"input": {"backgroundRemoval": {"imageFile": None}}},
    }
    parts = multipart(operations, {"0": png()}, {})
    parts["map"] = (None, json.dumps(file_map), "application/json")
    answer = httpx.post(endpoint(stack), files=parts, headers=AUTH, timeout=30)
    assert answer.status_code == 400
    assert said in answer.text


def test_a_multipart_body_without_its_boundary_is_a_400(stack: Stack) -> None:
    answer = httpx.post(
        endpoint(stack),
        content=b"--x\r\nnot really\r\n--x--\r\n",
        headers={**AUTH, "Content-Type": "multipart/form-data"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert "multipart" in answer.text
