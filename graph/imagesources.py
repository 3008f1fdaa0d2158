"""Where an input image comes from: inline base64 (`X`), a file part of a multipart
request (`XFile`, the GraphQL multipart request spec), or the result of one of the
caller's own SUCCEEDED tasks (`XFromTask`, image `XFromTaskImage` of it), read on the
server, so that generate → remove background → swap a face chains without a download
and re-upload. Exactly one source per image; a task that is not the caller's, not
SUCCEEDED, expired or without that image is NOT_FOUND on its field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from actors.interface import Jobs, TaskStatus, is_task_id
from graph.errors import BadUserInput, NotFound
from graph.limits import InputLimits
from graph.validation import FromTask, Submission, checked_image, checked_upload

FILE = "A file part of a multipart request (the GraphQL multipart request spec)."
FROM_TASK = "The result image of one of your SUCCEEDED tasks, read on the server."
FROM_TASK_IMAGE = "Which image of that task's result (0, the default, is the first)."


def image_source(given: Any, name: str, at: str, limits: InputLimits) -> bytes | FromTask:
    """The source of image field `name` (snake_case) of the kind input `given`: its
    bytes when inline or uploaded, else where to read them. `at` is the input's path."""
    camel = _camel(name)
    data = getattr(given, name)
    upload = getattr(given, name + "_file")
    task_id = getattr(given, name + "_from_task")
    index = getattr(given, name + "_from_task_image")
    if sum(source is not None for source in (data, upload, task_id)) != 1:
        raise BadUserInput(
            f"give exactly one of {camel}, {camel}File and {camel}FromTask", at + camel
        )
    if task_id is None and index is not None:
        raise BadUserInput(
            f"{camel}FromTaskImage goes with {camel}FromTask", at + camel + "FromTaskImage"
        )
    if data is not None:
        return checked_image(data, at + camel, limits)
    if upload is not None:
        return checked_upload(upload, at + camel + "File", limits)
    if index is not None and not 0 <= index < limits.max_images:
        raise BadUserInput(
            f"{camel}FromTaskImage must be from 0 to {limits.max_images - 1}",
            at + camel + "FromTaskImage",
        )
    return FromTask(str(task_id), index or 0, at + camel + "FromTask")


def image_inputs(given: Any, names: Iterable[str], at: str, limits: InputLimits) -> dict[str, Any]:
    """A `Submission`'s `inputs`, `from_tasks` and `fields` for the image fields `names`."""
    inputs: dict[str, bytes] = {}
    from_tasks: dict[str, FromTask] = {}
    for name in names:
        source = image_source(given, name, at, limits)
        if isinstance(source, FromTask):
            from_tasks[name] = source
        else:
            inputs[name] = source
    fields = {name: at + _camel(name) for name in names}
    return {"inputs": inputs, "from_tasks": from_tasks, "fields": fields}


async def resolve(submission: Submission, jobs: Jobs, owner: str) -> Submission:
    """`submission` with every image read from a task's result put in its inputs."""
    if not submission.from_tasks:
        return submission
    inputs = dict(submission.inputs)
    for name, source in submission.from_tasks.items():
        inputs[name] = await _result_image(source, jobs, owner)
    return replace(submission, inputs=inputs, from_tasks={})


async def _result_image(source: FromTask, jobs: Jobs, owner: str) -> bytes:
    missing = NotFound(
        f"no SUCCEEDED task {source.task_id!r} of yours with an image {source.index}",
        field=source.field,
    )
    if not is_task_id(source.task_id):
        raise missing
    record = await jobs.get(owner, source.task_id)
    if record is None or record.status is not TaskStatus.SUCCEEDED:
        raise missing
    data = await jobs.result_png(source.task_id, source.index)
    if data is None:  # past its images, or expired since it was read
        raise missing
    return data


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
