"""The task kinds and their specs: a kind is added here (a spec module and one line
below) and nowhere else in the job system."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.kinds import background_removal, face_swap, image_generation, image_to_image
from actors.kinds.spec import COMMON_STAGES, KindSpec, LoadContext
from actors.records import TaskKind

SPECS: Mapping[TaskKind, KindSpec[Any]] = {
    spec.kind: spec
    for spec in (
        image_generation.SPEC,
        background_removal.SPEC,
        face_swap.SPEC,
        image_to_image.IMAGE_TO_IMAGE,
        image_to_image.INPAINTING,
    )
}
if set(SPECS) != set(TaskKind):
    raise RuntimeError(f"task kinds without a spec: {set(TaskKind) - set(SPECS)}")


def spec_for(kind: TaskKind) -> KindSpec[Any]:
    return SPECS[kind]


__all__ = ["COMMON_STAGES", "SPECS", "KindSpec", "LoadContext", "spec_for"]
