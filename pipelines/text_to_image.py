"""Text-to-image with diffusers: load a configured model once, then run many prompts."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import tiny_random
from pipelines.errors import InvalidParameters, UnknownModel
from pipelines.images import encode_png
from pipelines.models import ModelStore, choose_device, fetch_hint
from pipelines.output import Output
from pipelines.pipeline import Pipeline
from pipelines.previews import LatentPreviewer
from pipelines.progress import Progress, ProgressCallback, ignore_progress
from pipelines.prompts import refine_prompt
from pipelines.timing import Timings

logger = logging.getLogger(__name__)

# Configured name -> hub id or local path. Settings may add to or replace these.
DEFAULT_MODELS: dict[str, str] = {
    tiny_random.NAME: tiny_random.NAME,
    "sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sd-turbo": "stabilityai/sd-turbo",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    "sdxl-turbo": "stabilityai/sdxl-turbo",
}
DEFAULT_MODEL = tiny_random.NAME

SCHEDULERS = {
    "euler": "EulerDiscreteScheduler",
    "euler-ancestral": "EulerAncestralDiscreteScheduler",
    "dpmpp-2m": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "lms": "LMSDiscreteScheduler",
}

MAX_SEED = 2**31 - 1  # seeds travel as GraphQL Int (signed 32-bit)
FAMILY = "diffusers"


@dataclass(frozen=True, slots=True)
class TextToImageParams:
    prompt: str
    negative_prompt: str | None = None
    width: int = 512
    height: int = 512
    steps: int = 30
    guidance_scale: float = 7.5
    seed: int | None = None
    refine_prompt: bool = True
    style: str | None = None
    previews: bool = False
    # A preview at most every this many steps; None picks about eight per run.
    preview_every: int | None = None


def resolve_source(name: str, store: ModelStore, catalog: Mapping[str, str]) -> str:
    """A loadable local path (or, online, a hub id) for a configured model name."""
    if name not in catalog:
        raise UnknownModel(f"unknown model {name!r}; configured: {', '.join(sorted(catalog))}")
    local = store.folder(FAMILY) / name
    if (local / "model_index.json").is_file():
        return str(local)
    source = catalog[name]
    if source == tiny_random.NAME:
        return str(tiny_random.build(local))
    if Path(source).expanduser().is_dir():
        return str(Path(source).expanduser())
    if not store.offline:
        return source
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(source, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        raise store.missing(
            name, [local, f"the Hugging Face cache ({source})"], fetch_hint(name)
        ) from None


class TextToImage:
    """A loaded diffusers pipeline, kept warm between runs."""

    def __init__(
        self, pipe: Any, *, model: str, source: str, device: str, hub_id: str | None = None
    ) -> None:
        self._pipe = pipe
        self.model = model
        self.source = source
        # What results may say about the source: a hub id, never a server path.
        self.public_source = hub_id or "local"
        self.device = device
        self.demo = model == tiny_random.NAME
        latent_channels = pipe.unet.config.in_channels if hasattr(pipe, "unet") else 0
        self._previewer = (
            LatentPreviewer(xl="XL" in type(pipe).__name__)
            if LatentPreviewer.supports(latent_channels)
            else None
        )

    @classmethod
    def load(
        cls,
        model: str | None,
        store: ModelStore,
        *,
        catalog: Mapping[str, str] = DEFAULT_MODELS,
        device: str | None = None,
        scheduler: str | None = None,
    ) -> TextToImage:
        """Load `model` (a configured name) onto `device` (best available by default).

        Raises `UnknownModel` or `ModelNotAvailable`; never downloads while the
        store is offline.
        """
        import torch
        from diffusers import AutoPipelineForText2Image

        name = model or DEFAULT_MODEL
        source = resolve_source(name, store, catalog)
        device = choose_device(device)
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        pipe = AutoPipelineForText2Image.from_pretrained(
            source, dtype=dtype, local_files_only=store.offline
        )
        if scheduler is not None:
            pipe.scheduler = _scheduler_class(scheduler).from_config(pipe.scheduler.config)
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        if name == tiny_random.NAME:
            logger.warning("text-to-image uses the %s", tiny_random.DESCRIPTION)
        logger.info("loaded text-to-image model %s from %s on %s", name, source, device)
        configured = catalog[name]
        hub_id = configured if _looks_like_hub_id(configured) else None
        return cls(pipe, model=name, source=source, device=device, hub_id=hub_id)

    def run(
        self, params: TextToImageParams, progress: ProgressCallback = ignore_progress
    ) -> Output:
        """Generate one image. `progress` may raise `Cancelled` to stop at the next step."""
        import torch

        _check(params)
        timings = Timings()
        prompt, negative, prompt_notes = params.prompt, params.negative_prompt, ()
        with timings.phase("refine"):
            if params.refine_prompt:
                progress(Progress("refining prompt"))
                refined = self._refine(params)
                prompt, negative = refined.prompt, refined.negative_prompt
                prompt_notes = refined.notes

        seed = params.seed if params.seed is not None else secrets.randbelow(MAX_SEED + 1)
        # MPS generators are not reproducible across runs; a CPU generator is.
        generator_device = "cpu" if self.device == "mps" else self.device
        generator = torch.Generator(device=generator_device).manual_seed(seed)
        every = params.preview_every or max(1, params.steps // 8)
        size = (params.width, params.height)

        def on_step_end(pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict:
            step, total = index + 1, pipe.num_timesteps
            preview = None
            if params.previews and self._previewer and (step % every == 0 or step == total):
                preview = self._previewer(tensors["latents"], size)
            progress(Progress("denoising", step, total, preview))
            if step == total:
                timings.begin("decode")
                progress(Progress("decoding", step, total))
            return tensors

        progress(Progress("denoising", 0, params.steps))
        # The VAE decode runs inside this same call: the last step's callback opens its phase.
        with timings.phase("denoise"):
            result = self._pipe(
                prompt=prompt,
                negative_prompt=negative,
                width=params.width,
                height=params.height,
                num_inference_steps=params.steps,
                guidance_scale=params.guidance_scale,
                generator=generator,
                callback_on_step_end=on_step_end,
                callback_on_step_end_tensor_inputs=["latents"],
            )
        image = result.images[0]
        progress(Progress("encoding"))
        with timings.phase("encode"):
            png = encode_png(image)

        metadata: dict[str, Any] = {
            "kind": "text-to-image",
            "model": self.model,
            "modelSource": self.public_source,
            "device": self.device,
            "dtype": str(self._pipe.dtype).removeprefix("torch."),
            "pipeline": type(self._pipe).__name__,
            "scheduler": type(self._pipe.scheduler).__name__,
            "steps": params.steps,
            "guidanceScale": params.guidance_scale,
            "promptNotes": list(prompt_notes),
            "timings": timings.as_metadata(),
        }
        nsfw = getattr(result, "nsfw_content_detected", None)
        if nsfw is not None:
            metadata["nsfwContentDetected"] = bool(nsfw[0])
        if self.demo:
            metadata["demo"] = True
            metadata["note"] = tiny_random.DESCRIPTION
        return Output(
            png=png,
            width=image.width,
            height=image.height,
            metadata=metadata,
            seed=seed,
            prompt_used=prompt,
            negative_prompt_used=negative,
        )

    def _refine(self, params: TextToImageParams):  # type: ignore[no-untyped-def]
        tokenizer = getattr(self._pipe, "tokenizer", None)
        try:
            return refine_prompt(
                params.prompt,
                params.negative_prompt,
                style=params.style,
                tokenize=(lambda text: tokenizer(text, truncation=False).input_ids)
                if tokenizer is not None
                else None,
                detokenize=tokenizer.decode if tokenizer is not None else None,
                token_limit=getattr(tokenizer, "model_max_length", 77) or 77,
            )
        except ValueError as error:
            raise InvalidParameters(str(error), field="prompt") from None


def _check(params: TextToImageParams) -> None:
    for field, value in (("width", params.width), ("height", params.height)):
        if value < 8 or value % 8:
            raise InvalidParameters(f"{field} must be a positive multiple of 8", field=field)
    if params.steps < 1:
        raise InvalidParameters("steps must be at least 1", field="steps")
    if params.seed is not None and not 0 <= params.seed <= MAX_SEED:
        raise InvalidParameters(f"seed must be between 0 and {MAX_SEED}", field="seed")


def _scheduler_class(name: str) -> Any:
    import diffusers

    if name not in SCHEDULERS:
        raise UnknownModel(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULERS)}")
    return getattr(diffusers, SCHEDULERS[name])


def fetch(name: str, store: ModelStore, catalog: Mapping[str, str] = DEFAULT_MODELS) -> Path:
    """Download a configured model from its hub into the store (or build tiny-random)."""
    if name not in catalog:
        raise UnknownModel(f"unknown model {name!r}; configured: {', '.join(sorted(catalog))}")
    destination = store.folder(FAMILY) / name
    if (destination / "model_index.json").is_file():
        return destination
    if catalog[name] == tiny_random.NAME:
        return tiny_random.build(destination)
    from huggingface_hub import snapshot_download

    snapshot_download(
        catalog[name],
        local_dir=destination,
        # Component folders only: repos also hold multi-GB single-file checkpoints at the root.
        allow_patterns=["model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"],
        ignore_patterns=["*.fp16.*", "*non_ema*"],
    )
    return destination


def _looks_like_hub_id(source: str) -> bool:
    return source.count("/") == 1 and not source.startswith((".", "/", "~"))


# mypy checks that the class meets the shared contract.
_PIPELINE: type[Pipeline[TextToImageParams]] = TextToImage
