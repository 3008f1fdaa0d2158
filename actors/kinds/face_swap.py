"""Face swap with insightface: one model pack, so one pipeline per worker."""

from __future__ import annotations

from actors.kinds.spec import KindSpec, LoadContext
from actors.records import TaskKind
from pipelines.face_swap import FaceSwapParams
from pipelines.pipeline import Pipeline

DEFAULT = "default"


def _load(context: LoadContext, model: str) -> Pipeline[FaceSwapParams]:
    from pipelines.face_swap import FaceSwap

    return FaceSwap.load(model, context.models, device=context.device)


SPEC = KindSpec(
    kind=TaskKind.FACE_SWAP,
    queue="face_swap",
    time_limit=120,
    params=FaceSwapParams,
    stages={
        "decoding input": (0.03, 0.05),
        "detecting faces": (0.1, 0.2),
        "swapping faces": (0.2, 0.9),
    },
    default_model=lambda _: DEFAULT,
    known_models=lambda _: (DEFAULT,),
    load=_load,
    inputs=("source_image", "target_image"),
)
