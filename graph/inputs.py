"""The input types of the contract."""

from __future__ import annotations

import strawberry


@strawberry.input
class ImageGenerationInput:
    prompt: str
    negative_prompt: str | None = None
    width: int = strawberry.field(default=512, description="Multiple of 8, within bounds.")
    height: int = 512
    steps: int = 30
    guidance_scale: float = 7.5
    seed: int | None = strawberry.field(
        default=None, description="0 .. 2147483647; null picks one, returned in the result."
    )
    refine_prompt: bool = True
    previews: bool = False
    model: str | None = strawberry.field(
        default=None, description="A configured model name; default from settings."
    )
    style: str | None = strawberry.field(
        default=None,
        description="A prompt style preset: photo, cinematic, illustration, anime, 3d.",
    )


@strawberry.input
class BackgroundRemovalInput:
    image: str = strawberry.field(description="Base64 or data: URL; PNG, JPEG or WebP.")
    model: str | None = None
    alpha_matting: bool = False
    only_mask: bool = False


@strawberry.input
class FaceSwapInput:
    source_image: str = strawberry.field(description="The face to put in.")
    target_image: str = strawberry.field(description="The picture to put it into.")
    source_face_index: int = strawberry.field(default=0, description="Faces ordered left to right.")
    target_face_index: int | None = strawberry.field(
        default=None, description="null = every face in the target."
    )


@strawberry.input(one_of=True)
class SubmitTaskInput:
    image_generation: ImageGenerationInput | None = strawberry.UNSET
    background_removal: BackgroundRemovalInput | None = strawberry.UNSET
    face_swap: FaceSwapInput | None = strawberry.UNSET
