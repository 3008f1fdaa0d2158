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
