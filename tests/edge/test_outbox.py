"""What waits for a client that is not reading: one result per operation, in order,
with every terminal frame kept."""

from __future__ import annotations

from project.edge.outbox import Outbox


def _drain(outbox: Outbox) -> list[str]:
    taken = []
    while outbox:
        taken.append(outbox.take())
    return taken


def test_a_newer_result_replaces_the_waiting_one_of_its_operation_only() -> None:
    outbox = Outbox()
    assert not outbox.put("next", "a", "a1")
    assert not outbox.put("next", "b", "b1")
    assert outbox.put("next", "a", "a2")
    assert outbox.put("next", "a", "a3")
    assert _drain(outbox) == ["a3", "b1"]
    assert outbox.bytes == 0


def test_results_about_different_tasks_of_one_operation_are_each_kept() -> None:
    # myTasks: one operation, several tasks; each task's newest state waits, in order.
    outbox = Outbox()
    assert not outbox.put("next", "mine", "t1-running", subject="t1")
    assert not outbox.put("next", "mine", "t2-queued", subject="t2")
    assert outbox.put("next", "mine", "t1-succeeded", subject="t1")
    assert not outbox.put("next", "other", "o1", subject="t1")
    outbox.put("complete", "mine", "mine-done")
    assert not outbox.put("next", "mine", "t2-again", subject="t2")
    assert _drain(outbox) == ["t1-succeeded", "t2-queued", "o1", "mine-done", "t2-again"]


def test_complete_and_error_are_never_replaced_nor_overtaken() -> None:
    outbox = Outbox()
    outbox.put("next", "a", "a1")
    outbox.put("complete", "a", "a-done")
    # The operation id is reused after its completion: a new stream, queued after.
    assert not outbox.put("next", "a", "a-again")
    outbox.put("data", "b", "b1")
    outbox.put("error", "b", "b-error")
    assert _drain(outbox) == ["a1", "a-done", "a-again", "b1", "b-error"]


def test_frames_of_no_operation_are_kept_in_order() -> None:
    outbox = Outbox()
    outbox.put("pong", None, "p1")
    outbox.put("pong", None, "p2")
    outbox.put("next", "a", "a1")
    assert _drain(outbox) == ["p1", "p2", "a1"]


def test_bytes_count_what_waits() -> None:
    outbox = Outbox()
    outbox.put("next", "a", "x" * 10)
    outbox.put("next", "a", "x" * 4)
    outbox.put("next", "b", "y" * 5)
    assert outbox.bytes == 9
    outbox.take()
    assert outbox.bytes == 5
    outbox.clear()
    assert outbox.bytes == 0 and not outbox


def test_a_result_is_about_the_id_its_one_root_object_selected() -> None:
    from project.edge.framesender import _subject

    def message(data: object) -> dict[str, object]:
        return {"type": "next", "id": "op", "payload": {"data": data}}

    assert _subject(message({"myTasks": {"id": "t1", "status": "RUNNING"}})) == "t1"
    assert _subject(message({"mine": {"status": "RUNNING"}})) is None  # no id selected
    assert _subject(message(None)) is None
    assert _subject({"type": "complete", "id": "op"}) is None
