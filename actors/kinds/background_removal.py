"""Background removal with rembg: models are small enough for a worker's pipeline
cache to switch between, so they share one queue."""

from __future__ import annotations

from actors.kinds.spec import KindSpec, LoadContext
from actors.records import TaskKind
from pipelines.background_removal import KNOWN_MODELS, BackgroundRemovalParams
from pipelines.pipeline import Pipeline


def _load(context: LoadContext, model: str) -> Pipeline[BackgroundRemovalParams]:
    from pipelines.background_removal import BackgroundRemoval

    return BackgroundRemoval.load(model, context.models, device=context.device)


SPEC = KindSpec(
    kind=TaskKind.BACKGROUND_REMOVAL,
    queue="background_removal",
    time_limit=120,
    params=BackgroundRemovalParams,
    stages={
        "decoding input": (0.03, 0.05),
        "removing background": (0.1, 0.9),
    },
    default_model=lambda settings: settings.default_background_model,
    known_models=lambda _: KNOWN_MODELS,
    load=_load,
    inputs=("image",),
)
