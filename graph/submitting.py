"""submitTask and submitTasks: the options they share, checked the same way, and each
input turned into a submission; the job system admits and records them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from actors.interface import EnqueueFailed, NewTask, Refused, TaskPriority, TaskRecord
from graph import imagesources
from graph.context import Context
from graph.decoding import decode_inputs
from graph.errors import ApiError, BadUserInput, Forbidden, RateLimited, ServiceUnavailable
from graph.inputs import SubmitTaskInput
from graph.kinds import parse_submission
from graph.limits import InputLimits
from graph.validation import Submission, require_unicode
from graph.webhooks import WebhookInput, WebhookRequest, checked_webhook

SUBMIT_TASK = (
    "Queue a task. The same idempotencyKey from the same caller within the result TTL "
    "returns the first task instead of a new one. With deadlineSeconds, a task not "
    "finished that long after it was queued ends CANCELLED (DEADLINE_EXCEEDED). With a "
    "webhook, the task's events are POSTed to it, signed (see the README). HIGH priority "
    "is for the API keys ATELIER_PRIORITY_KEYS names (FORBIDDEN otherwise)."
)
SUBMIT_TASKS = (
    "Queue several tasks in one round trip (at most ATELIER_MAX_BATCH_SUBMIT): admitted "
    "all or none, each counting against your limits; an invalid input fails the whole "
    "batch, its error naming it (inputs.3.imageGeneration.width). The options apply to "
    "every task; one idempotencyKey covers the batch. Tasks come back in input order."
)
REFUSALS = {
    "SUBMIT_RATE": "too many submissions; retry after extensions.retryAfter seconds",
    "UNFINISHED_TASKS": "too many unfinished tasks; wait for some to finish",
    "QUEUE_FULL": "the queue is full; retry later",
}

T = TypeVar("T")


async def submit_task(
    context: Context,
    task_input: SubmitTaskInput,
    *,
    idempotency_key: str | None,
    deadline_seconds: int | None,
    webhook: WebhookInput | None,
    priority: TaskPriority,
) -> TaskRecord:
    owner = context.owner  # who asks comes first: nothing is examined for strangers
    hook = await _checked_options(context, idempotency_key, deadline_seconds, webhook, priority)
    submission = await _submission(context, task_input, owner)
    return await _refusals_as_errors(
        lambda: context.jobs.submit(
            owner,
            submission.kind,
            submission.params,
            submission.inputs,
            idempotency_key=idempotency_key,
            deadline_seconds=deadline_seconds,
            webhook=hook,
            priority=priority,
            vet=_vet([submission], context.limits, batch=False),
        )
    )


async def submit_tasks(
    context: Context,
    task_inputs: list[SubmitTaskInput],
    *,
    idempotency_key: str | None,
    deadline_seconds: int | None,
    webhook: WebhookInput | None,
    priority: TaskPriority,
) -> list[TaskRecord]:
    owner = context.owner
    most = context.limits.max_batch_submit
    if not 1 <= len(task_inputs) <= most:
        raise BadUserInput(f"give 1 to {most} inputs", "inputs")
    hook = await _checked_options(context, idempotency_key, deadline_seconds, webhook, priority)
    submissions = []
    for index, task_input in enumerate(task_inputs):
        with _named_as(index):
            submissions.append(await _submission(context, task_input, owner))

    tasks = [NewTask(s.kind, s.params, s.inputs) for s in submissions]
    return await _refusals_as_errors(
        lambda: context.jobs.submit_many(
            owner,
            tasks,
            idempotency_key=idempotency_key,
            deadline_seconds=deadline_seconds,
            webhook=hook,
            priority=priority,
            vet=_vet(submissions, context.limits, batch=True),
        )
    )


def _vet(
    submissions: list[Submission], limits: InputLimits, *, batch: bool
) -> Callable[[], Awaitable[None]] | None:
    """Decoding the submissions' input images, for the job system to run only once it
    has admitted them: a caller over its limits costs no decoding. None when there is
    no image to decode, so that admission is decided with the record, in one step."""
    if not any(submission.inputs for submission in submissions):
        return None

    async def vet() -> None:
        for index, submission in enumerate(submissions):
            with _named_as(index) if batch else contextlib.nullcontext():
                await decode_inputs(submission, limits)

    return vet


async def _checked_options(
    context: Context,
    idempotency_key: str | None,
    deadline_seconds: int | None,
    webhook: WebhookInput | None,
    priority: TaskPriority,
) -> WebhookRequest | None:
    """The options' checks, in the order a caller's mistakes are reported; the webhook
    as the job system takes it."""
    owner, limits = context.owner, context.limits
    if priority is TaskPriority.HIGH and owner not in limits.high_priority_callers:
        raise Forbidden("this API key may not submit HIGH priority tasks", field="priority")
    longest = limits.max_deadline_seconds
    if deadline_seconds is not None and not 1 <= deadline_seconds <= longest:
        raise BadUserInput(f"deadlineSeconds must be from 1 to {longest}", "deadlineSeconds")
    if idempotency_key is not None:
        most = limits.max_idempotency_key_chars
        if not 0 < len(idempotency_key) <= most:
            raise BadUserInput(f"idempotencyKey must have 1 to {most} characters", "idempotencyKey")
        require_unicode(idempotency_key, "idempotencyKey")
    if webhook is None:
        return None
    return await checked_webhook(webhook, limits.webhooks, owner, context.base_url)


async def _submission(context: Context, task_input: SubmitTaskInput, owner: str) -> Submission:
    if task_input.image_generation:  # no image in it: microseconds, not worth a thread
        submission = parse_submission(task_input, context.limits)
    else:  # off the event loop: base64 of a 10 MB image and its header take milliseconds
        submission = await asyncio.to_thread(parse_submission, task_input, context.limits)
    return await imagesources.resolve(submission, context.jobs, owner)


async def _refusals_as_errors(submit: Callable[[], Awaitable[T]]) -> T:
    try:
        return await submit()
    except EnqueueFailed:
        raise ServiceUnavailable("the task could not be queued; try again") from None
    except Refused as refused:
        if refused.reason == "OVER_BURST":  # however long the caller waited
            raise BadUserInput(
                "more tasks than this API key may submit at once (ATELIER_SUBMIT_BURST)",
                "inputs",
            ) from None
        raise RateLimited(
            REFUSALS.get(refused.reason, "too many requests"),
            reason=refused.reason,
            retry_after=refused.retry_after,
        ) from None


@contextlib.contextmanager
def _named_as(index: int) -> Iterator[None]:
    """Errors of one input of a batch name it: `input.x` becomes `inputs.<index>.x`."""
    try:
        yield
    except ApiError as error:
        field = (error.extensions or {}).get("field")
        if isinstance(field, str) and (field == "input" or field.startswith("input.")):
            error.extensions = {**(error.extensions or {}), "field": f"inputs.{index}" + field[5:]}
        raise
