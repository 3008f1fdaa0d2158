"""Each task kind's GraphQL input and its checks, one module per kind; a new kind adds
a module, a line below and a field of `graph.inputs.SubmitTaskInput`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import strawberry

from graph.errors import BadUserInput
from graph.kinds import background_removal, face_swap, image_generation, image_to_image
from graph.limits import InputLimits
from graph.validation import Submission

if TYPE_CHECKING:
    from graph.inputs import SubmitTaskInput

# SubmitTaskInput's field -> how its input becomes a submission.
PARSERS: dict[str, Callable[[Any, InputLimits], Submission]] = {
    "image_generation": image_generation.parse,
    "background_removal": background_removal.parse,
    "face_swap": face_swap.parse,
    "image_to_image": image_to_image.parse_image_to_image,
    "inpainting": image_to_image.parse_inpainting,
}


def parse_submission(task: SubmitTaskInput, limits: InputLimits) -> Submission:
    chosen = [
        (name, given)
        for name in PARSERS
        if (given := getattr(task, name)) not in (None, strawberry.UNSET)
    ]
    if len(chosen) != 1:  # @oneOf already enforces this; kept for direct callers
        names = ", ".join(_camel(name) for name in PARSERS)
        raise BadUserInput(f"give exactly one of {names}", "input")
    name, given = chosen[0]
    return PARSERS[name](given, limits)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
