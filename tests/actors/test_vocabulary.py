"""Every stage and error code the code writes has its enum value (TaskStage,
TaskErrorCode): a new one added without it would reach typed clients as null."""

from __future__ import annotations

import re
from pathlib import Path

from actors.errorcodes import TaskErrorCode, code_of
from actors.kinds import COMMON_STAGES, SPECS
from actors.stages import TaskStage, stage_of
from pipelines.errors import PipelineError

ROOT = Path(__file__).resolve().parents[2]


def sources(*patterns: str) -> str:
    return "\n".join(
        path.read_text() for pattern in patterns for path in sorted(ROOT.glob(pattern))
    )


def written_stages() -> set[str]:
    """Stage texts in the code: pipelines' Progress events, the kinds' spans, the
    store's scripts and the stages it ends tasks with."""
    python = sources("pipelines/**/*.py", "actors/**/*.py")
    lua = sources("actors/store/lua/*.lua")
    stages = set(re.findall(r'Progress\(\s*"([^"]+)"', python))
    stages |= set(re.findall(r'"stage",\s*"([^"]+)"', lua))
    stages |= set(re.findall(r'requeue\("([^"]+)"', lua))
    stages |= set(re.findall(r'TaskStatus\.\w+,\s*"([^"]+)"', python))  # terminate(...)
    stages |= set(re.findall(r'stage=record\.stage or "([^"]+)"', python))
    stages |= set(COMMON_STAGES)
    for spec in SPECS.values():
        stages |= set(spec.stages)
    return stages


def test_every_stage_the_code_writes_has_a_task_stage() -> None:
    stages = written_stages()
    # The scan finds each place that writes one; fewer means it stopped finding them.
    assert {"queued", "starting", "denoising", "done", "failed", "cancelled"} <= stages
    assert {text for text in stages if stage_of(text) is None} == set()


def test_every_task_stage_is_written_somewhere() -> None:
    named = {stage_of(text) for text in written_stages()}
    assert set(TaskStage) - named == set()


def test_requeued_stages_say_why_after_the_word() -> None:
    assert stage_of("requeued after its worker was lost") is TaskStage.REQUEUED
    assert stage_of("requeued: its worker shut down") is TaskStage.REQUEUED
    assert stage_of("a stage from a newer worker") is None
    assert stage_of(None) is None and stage_of("") is None


def pipeline_codes() -> set[str]:
    found, todo = set(), [PipelineError]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo.extend(cls.__subclasses__())
    return found


def job_system_codes() -> set[str]:
    python = sources("actors/**/*.py")
    lua = sources("actors/store/lua/*.lua")
    codes = set(re.findall(r'\.fail\([^)]*?"([A-Z_]+)"', python, re.S))
    codes |= set(re.findall(r'\(\s*"([A-Z_]+)",\s*(?:"|message)', python))  # (code, message)
    codes |= set(re.findall(r'ARGV\[first \+ 5\] = "([A-Z_]+)"', lua))  # the error code
    return codes


def test_every_error_code_the_code_writes_has_a_task_error_code() -> None:
    codes = pipeline_codes() | job_system_codes()
    assert {"PIPELINE_ERROR", "NO_FACE_FOUND", "TIMEOUT", "ENQUEUE_FAILED"} <= codes
    assert {"CANCELLED", "WORKER_LOST", "DEADLINE_EXCEEDED"} <= codes
    assert {code for code in codes if code_of(code) is None} == set()
    assert {code.value for code in TaskErrorCode} == codes


def test_an_unknown_code_reads_as_none() -> None:
    assert code_of("SOMETHING_NEWER") is None and code_of(None) is None
    assert code_of("TIMEOUT") is TaskErrorCode.TIMEOUT
