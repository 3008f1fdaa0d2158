"""The samplers a task may pick by name, switched per run on loaded weights.

A scheduler holds no weights: switching one is building it from the model's own
scheduler config (done once per name, then reused), never reloading the model.
"""

from __future__ import annotations

from typing import Any

from pipelines.errors import InvalidParameters

# Public name -> diffusers class. The names are the API's (`scheduler` inputs).
SCHEDULERS: dict[str, str] = {
    "euler": "EulerDiscreteScheduler",
    "euler-ancestral": "EulerAncestralDiscreteScheduler",
    "dpmpp-2m": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "lms": "LMSDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
    "lcm": "LCMScheduler",
}

# As Stable Diffusion's own configs set it: PNDM's Runge-Kutta warm-up needs more
# steps than a short run has, and SD skips it (the "PLMS" sampler).
_OPTIONS: dict[str, dict[str, object]] = {"pndm": {"skip_prk_steps": True}}


def check_scheduler(name: str | None) -> None:
    if name is not None and name not in SCHEDULERS:
        raise InvalidParameters(
            f"unknown scheduler {name!r}; known: {', '.join(SCHEDULERS)}", field="scheduler"
        )


class Schedulers:
    """The schedulers of one loaded model: its own (the default) and each named one,
    built on first use from the model's scheduler config."""

    def __init__(self, own: Any) -> None:
        self.own = own
        self._built: dict[str, Any] = {}

    def get(self, name: str | None) -> Any:
        if name is None:
            return self.own
        check_scheduler(name)
        if name not in self._built:
            import diffusers

            cls = getattr(diffusers, SCHEDULERS[name])
            self._built[name] = cls.from_config(self.own.config, **_OPTIONS.get(name, {}))
        return self._built[name]

    @staticmethod
    def name_of(scheduler: Any) -> str:
        """The public name of a scheduler instance, or its class name when it has none."""
        cls = type(scheduler).__name__
        return next((name for name, known in SCHEDULERS.items() if known == cls), cls)
