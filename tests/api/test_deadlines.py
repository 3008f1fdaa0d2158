"""submitTask(deadlineSeconds) on a live stack: a task still waiting at its deadline ends
CANCELLED (DEADLINE_EXCEEDED) without starting, and a running one stops where it is.
Both are held by the test (a busy worker, a task held at a step) past their deadline;
how soon after it they end is up to the workers' sweep (ATELIER_SWEEP_EVERY)."""

from __future__ import annotations

from datetime import timedelta

from tests.api.scenarios import (
    finish,
    generation,
    graphql_error,
    held_generation,
    is_terminal,
    when,
    worker_held,
)
from tests.client import TASK_FIELDS, Api
from tests.stepgate import HOLD_AT

SUBMIT = (
    TASK_FIELDS
    + """
mutation Submit($input: SubmitTaskInput!, $seconds: Int) {
  submitTask(input: $input, deadlineSeconds: $seconds) { ...TaskFields deadlineAt }
}
"""
)


def submit(api: Api, task_input: dict, seconds: int | None) -> dict:
    task: dict = api.data(SUBMIT, input=task_input, seconds=seconds)["submitTask"]
    return task


def test_a_task_still_queued_at_its_deadline_never_starts(api: Api) -> None:
    with worker_held(api):
        task = submit(api, generation("waits past its deadline"), 1)
        deadline = when(task["deadlineAt"])
        assert deadline is not None
        assert timedelta(0) < deadline - when(task["createdAt"]) <= timedelta(seconds=2)
        ended = api.wait_for(task["id"], is_terminal, timeout=60)
    assert ended["status"] == "CANCELLED", ended
    assert ended["error"]["code"] == "DEADLINE_EXCEEDED" == ended["error"]["reason"]
    assert ended["startedAt"] is None and ended["attempts"] == 0
    assert when(ended["finishedAt"]) >= deadline  # type: ignore[operator]


def test_a_running_task_past_its_deadline_stops_where_it_is(api: Api) -> None:
    # Ten seconds: time to start and reach the hold on any machine; then it waits there.
    task = submit(api, held_generation("held past its deadline"), 10)
    try:
        held = api.wait_for(
            task["id"], lambda t: t["step"] == HOLD_AT or is_terminal(t), timeout=60
        )
        assert held["status"] == "RUNNING", held
        ended = api.wait_for(task["id"], is_terminal, timeout=60)
    finally:
        finish(api, task["id"])
    assert ended["status"] == "CANCELLED", ended
    assert ended["error"]["code"] == "DEADLINE_EXCEEDED"
    assert ended["startedAt"] is not None and ended["step"] == HOLD_AT
    assert ended["result"] is None


def test_a_task_that_ends_in_time_is_untouched_by_its_deadline(api: Api) -> None:
    task = submit(api, generation("quick"), 600)
    done = api.wait_for(task["id"], is_terminal, timeout=60)
    assert done["status"] == "SUCCEEDED", done["error"]


def test_a_deadline_out_of_bounds_is_bad_user_input(api: Api) -> None:
    for seconds in (0, -5, 86_401):
        body = api.execute(SUBMIT, input=generation(), seconds=seconds)
        error = graphql_error(body)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "deadlineSeconds"}
