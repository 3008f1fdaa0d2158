"""The input of submitTask: exactly one kind's input (see graph.kinds)."""

from __future__ import annotations

import strawberry

from graph.kinds.background_removal import BackgroundRemovalInput
from graph.kinds.face_swap import FaceSwapInput
from graph.kinds.image_generation import ImageGenerationInput
from graph.kinds.image_to_image import ImageToImageInput, InpaintingInput


@strawberry.input(one_of=True)
class SubmitTaskInput:
    image_generation: ImageGenerationInput | None = strawberry.UNSET
    background_removal: BackgroundRemovalInput | None = strawberry.UNSET
    face_swap: FaceSwapInput | None = strawberry.UNSET
    image_to_image: ImageToImageInput | None = strawberry.UNSET
    inpainting: InpaintingInput | None = strawberry.UNSET
