"""The stages a task goes through, as an enum typed clients can switch on.

A task's `stage` is free text written in several places (the store's scripts, the
kinds' pipelines); `stage_of` names each with a `TaskStage`. A text this version does
not know (written by a newer worker during a rolling deploy) has none, so clients see
null rather than a wrong value. tests/actors/test_vocabulary.py fails when code writes
a stage this module does not name.
"""

from __future__ import annotations

import enum


class TaskStage(enum.Enum):
    QUEUED = "queued"
    STARTING = "starting"
    RESTARTING = "restarting"
    LOADING_MODEL = "loading model"
    DECODING_INPUT = "decoding input"
    REFINING_PROMPT = "refining prompt"
    DENOISING = "denoising"
    DECODING = "decoding"
    DETECTING_FACES = "detecting faces"
    SWAPPING_FACES = "swapping faces"
    REMOVING_BACKGROUND = "removing background"
    ENCODING = "encoding"
    CANCELLING = "cancelling"
    REQUEUED = "requeued"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


_BY_TEXT = {stage.value: stage for stage in TaskStage}


def stage_of(text: str | None) -> TaskStage | None:
    """The stage `text` names; a requeue's text says why after the word ("requeued
    after its worker was lost")."""
    if not text:
        return None
    if text.startswith("requeued"):
        return TaskStage.REQUEUED
    return _BY_TEXT.get(text)
