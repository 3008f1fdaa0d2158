"""Stable Diffusion weights loaded once and shared by text-to-image, image-to-image
and inpainting; the denoising run the three have in common.

`StableDiffusion` holds one diffusers text-to-image pipeline. The image-to-image and
inpainting pipelines are views over the same components (`from_pipe`), made on first
use: no second copy of the weights, and a worker warm for a model is warm for all
three kinds. `generate` runs one batched call: `num_images` images share the steps,
each with a generator of its own seed, so image k alone (its seed, one image) comes
out the same on the same device. LoRA adapters a run names are on for that run only
(pipelines.lora).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Self

from PIL import Image

from pipelines import tiny_random
from pipelines.batch_exact import exact_batches
from pipelines.diffusion_models import DEFAULT_MODEL, DEFAULT_MODELS, hub_id, resolve_source
from pipelines.diffusion_params import (
    DiffusionParams,
    check_common,
    denoising_steps,
    seeds_for,
)
from pipelines.errors import InvalidParameters
from pipelines.images import encode_png
from pipelines.lora import LoraAdapters, loras_of
from pipelines.models import ModelStore, choose_device
from pipelines.output import Output
from pipelines.previews import LatentPreviewer
from pipelines.progress import Progress, ProgressCallback
from pipelines.prompts import refine_prompt
from pipelines.schedulers import Schedulers
from pipelines.timing import Timings

logger = logging.getLogger(__name__)

# Mode -> the diffusers auto-pipeline a view over the weights is made with.
_AUTO = {"image-to-image": "AutoPipelineForImage2Image", "inpainting": "AutoPipelineForInpainting"}


# Images after decoding, before encoding: inpainting puts back what it must keep.
Finish = Callable[[list[Image.Image]], list[Image.Image]]


class StableDiffusion:
    """A loaded diffusers model and its views, kept warm between runs."""

    def __init__(
        self,
        pipe: Any,
        *,
        model: str,
        source: str,
        device: str,
        public_source: str | None = None,
        store: ModelStore | None = None,
    ) -> None:
        self._pipes: dict[str, Any] = {"text-to-image": pipe}
        # Loaded into `pipe`'s modules, which its views share; none without a store.
        self.loras = LoraAdapters(store)
        self._denoiser = exact_batches(pipe)
        self._schedulers = Schedulers(pipe.scheduler)
        self.model = model
        self.source = source
        # What results may say about the source: a hub id, never a server path.
        self.public_source = public_source or "local"
        self.device = device
        self.demo = model == tiny_random.NAME
        channels = pipe.unet.config.in_channels if hasattr(pipe, "unet") else 0
        xl = "XL" in type(pipe).__name__
        self._previewer = LatentPreviewer(xl=xl) if LatentPreviewer.supports(channels) else None

    @classmethod
    def load(
        cls,
        model: str | None,
        store: ModelStore,
        *,
        catalog: Mapping[str, str] = DEFAULT_MODELS,
        device: str | None = None,
    ) -> StableDiffusion:
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
        ).to(device)
        pipe.set_progress_bar_config(disable=True)
        if name == tiny_random.NAME:
            logger.warning("text-to-image uses the %s", tiny_random.DESCRIPTION)
        logger.info("loaded diffusion model %s from %s on %s", name, source, device)
        return cls(
            pipe,
            model=name,
            source=source,
            device=device,
            public_source=hub_id(catalog[name]),
            store=store,
        )

    def pipe_for(self, mode: str) -> Any:
        """The diffusers pipeline for `mode` over the one set of weights."""
        if mode not in self._pipes:
            import diffusers

            view = getattr(diffusers, _AUTO[mode]).from_pipe(self._pipes["text-to-image"])
            view.set_progress_bar_config(disable=True)
            self._pipes[mode] = view
        return self._pipes[mode]

    def generate(
        self,
        mode: str,
        params: DiffusionParams,
        size: tuple[int, int],
        call: Mapping[str, Any],
        progress: ProgressCallback,
        *,
        timings: Timings,
        finish: Finish | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Output:
        """One batched run of `mode`'s pipeline with `call`'s arguments (the input
        image, mask, strength) added to what every mode passes."""
        import torch

        check_common(params)
        loras = loras_of(params.loras)
        pipe = self.pipe_for(mode)
        pipe.scheduler = self._schedulers.get(params.scheduler)
        prompt, negative, notes = params.prompt, params.negative_prompt, ()
        with timings.phase("refine"):
            if params.refine_prompt:
                progress(Progress("refining prompt"))
                refined = self._refine(params)
                prompt, negative, notes = refined.prompt, refined.negative_prompt, refined.notes

        seeds = seeds_for(params.seed, params.num_images)
        # MPS generators are not reproducible across runs; a CPU generator is.
        generator_device = "cpu" if self.device == "mps" else self.device
        generators = [torch.Generator(device=generator_device).manual_seed(s) for s in seeds]
        every = params.preview_every or max(1, params.steps // 8)

        def on_step_end(pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict:
            step, total = index + 1, pipe.num_timesteps
            preview = None
            if params.previews and self._previewer and (step % every == 0 or step == total):
                preview = self._previewer(tensors["latents"][:1], size)  # the first image
            progress(Progress("denoising", step, total, preview))
            if step == total:
                timings.begin("decode")
                progress(Progress("decoding", step, total))
            return tensors

        progress(Progress("denoising", 0, denoising_steps(params.steps, call.get("strength"))))
        if loras:
            timings.begin("loras")  # loading what is not loaded yet; denoise's start ends it
        # The VAE decode runs inside this same call: the last step's callback opens its phase.
        with (
            self.loras.activate(self._pipes["text-to-image"], loras),
            timings.phase("denoise"),
            self._denoiser.batch_of(params.num_images),
        ):
            result = pipe(
                prompt=prompt,
                negative_prompt=negative,
                width=size[0],
                height=size[1],
                num_inference_steps=params.steps,
                guidance_scale=params.guidance_scale,
                num_images_per_prompt=params.num_images,
                generator=generators,
                callback_on_step_end=on_step_end,
                callback_on_step_end_tensor_inputs=["latents"],
                **call,
            )
        images = list(result.images)
        if finish is not None:
            with timings.phase("composite"):
                images = finish(images)
        progress(Progress("encoding"))
        with timings.phase("encode"):
            pngs = [encode_png(image) for image in images]
        described = {
            "kind": mode,
            "model": self.model,
            "modelSource": self.public_source,
            "device": self.device,
            "dtype": str(pipe.dtype).removeprefix("torch."),
            "pipeline": type(pipe).__name__,
            "scheduler": Schedulers.name_of(pipe.scheduler),
            "schedulerClass": type(pipe.scheduler).__name__,
            "steps": params.steps,
            "guidanceScale": params.guidance_scale,
            "numImages": params.num_images,
            "promptNotes": list(notes),
            "loras": [lora.as_metadata() for lora in loras],
            **(metadata or {}),
            "timings": timings.as_metadata(),
        }
        nsfw = getattr(result, "nsfw_content_detected", None)
        if nsfw is not None:
            described["nsfwContentDetected"] = bool(nsfw[0])  # the first image, as ever
            described["nsfwContentDetectedPerImage"] = [bool(flag) for flag in nsfw]
        if self.demo:
            described["demo"] = True
            described["note"] = tiny_random.DESCRIPTION
        return Output(
            png=pngs[0],
            width=images[0].width,
            height=images[0].height,
            metadata=described,
            seed=seeds[0],
            prompt_used=prompt,
            negative_prompt_used=negative,
            extra_pngs=tuple(pngs[1:]),
            seeds=tuple(seeds),
        )

    def _refine(self, params: DiffusionParams):  # type: ignore[no-untyped-def]
        tokenizer = getattr(self._pipes["text-to-image"], "tokenizer", None)
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


class OnStableDiffusion:
    """A pipeline over `StableDiffusion` weights (text-to-image, image-to-image,
    inpainting): loading one loads the weights the others may share."""

    def __init__(self, diffusion: StableDiffusion) -> None:
        self.diffusion = diffusion

    @classmethod
    def load(
        cls,
        model: str | None,
        store: ModelStore,
        *,
        catalog: Mapping[str, str] = DEFAULT_MODELS,
        device: str | None = None,
    ) -> Self:
        return cls(StableDiffusion.load(model, store, catalog=catalog, device=device))
