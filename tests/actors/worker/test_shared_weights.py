"""Image-to-image and inpainting run on the weights a worker loaded for text-to-image:
one cache entry, one load, whatever the order of the kinds (real runner, real store,
the tiny random Stable Diffusion built locally)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from actors.config import JobSettings
from actors.kinds import spec_for
from actors.records import TaskKind, TaskStatus
from actors.store.tasks import TaskStore
from actors.worker.runner import TaskRunner
from tests.actors.factories import created, new_task


def png(mode: str, size: tuple[int, int], fill: int | tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, fill).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_three_diffusion_kinds_share_one_loaded_model(store: TaskStore, tmp_path: Path) -> None:
    runner = TaskRunner(
        JobSettings(model_dir=tmp_path, device="cpu"), store, lambda record: None, lambda r: None
    )
    common = {"prompt": "a fox", "steps": 2, "seed": 1, "refine_prompt": False}
    picture = png("RGB", (64, 64), (200, 30, 30))
    mask = png("L", (64, 64), 255)
    tasks = [
        created(store, new_task(kind=TaskKind.IMAGE_TO_IMAGE, params=dict(common)), image=picture),
        created(store, new_task(params={**common, "width": 64, "height": 64})),
        created(
            store,
            new_task(kind=TaskKind.INPAINTING, params=dict(common)),
            image=picture,
            mask=mask,
        ),
    ]
    for task in tasks:
        runner.run(task.id)
        runner.flush()
        final = store.get(task.id)
        assert final is not None and final.status is TaskStatus.SUCCEEDED, final
        assert final.result is not None and (final.result.width, final.result.height) == (64, 64)

    assert runner.cache.loaded() == ((TaskKind.IMAGE_GENERATION, "tiny-random"),)
    kinds = [store.get(task.id).kind for task in tasks]  # type: ignore[union-attr]
    assert kinds == [TaskKind.IMAGE_TO_IMAGE, TaskKind.IMAGE_GENERATION, TaskKind.INPAINTING]
    assert {spec_for(kind).queue for kind in kinds} == {"image_generation"}
