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

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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
from pipelines.lora import Lora, LoraAdapters, loras_of
from pipelines.models import ModelStore, choose_device
from pipelines.output import Output
from pipelines.previews import LatentPreviewer
from pipelines.progress import BatchProgress, Progress, ProgressCallback
from pipelines.prompts import refine_prompt
from pipelines.schedulers import Schedulers
from pipelines.timing import Timings

logger = logging.getLogger(__name__)

# Mode -> the diffusers auto-pipeline a view over the weights is made with.
_AUTO = {"image-to-image": "AutoPipelineForImage2Image", "inpainting": "AutoPipelineForInpainting"}


# A batch's members whose progress callbacks run at once, at most.

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
        check_common(params)
        loras = loras_of(params.loras)
        pipe = self.pipe_for(mode)
        pipe.scheduler = self._schedulers.get(params.scheduler)
        prompt, negative, notes = self._prompts(params, progress, timings)

        seeds = seeds_for(params.seed, params.num_images)
        generators = self._generators(seeds)

        def on_step_end(pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict:
            step, total = index + 1, pipe.num_timesteps
            preview = None
            if _previews_at(params, step, total) and self._previewer:
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
        progress(Progress("encoding"))  # by whoever reads the Output's PNGs
        nsfw = getattr(result, "nsfw_content_detected", None)
        described = self._described(mode, pipe, params, notes, loras, timings, nsfw, metadata)
        return _output(images, described, seeds, prompt, negative)

    def generate_batch(
        self,
        jobs: Sequence[tuple[DiffusionParams, ProgressCallback]],
        size: tuple[int, int],
        *,
        exact: bool = True,
        report: BatchProgress | None = None,
    ) -> list[Output | Exception]:
        """Text-to-image for several tasks in one call: the jobs agree on
        `shared_call_key` and `size`; each has its prompts, seeds, image count and
        progress. One outcome per job (see `pipelines.pipeline.BatchPipeline`).

        Each task's prompts are encoded on their own, as a run of that task alone
        encodes them, and the batch's embeddings are passed together. With `exact`
        the denoiser and VAE go image by image (pipelines.batch_exact), so each
        task's images are those it would get alone; without, they run as one batch.
        """
        timings = Timings()
        outcomes: list[Output | Exception | None] = [None] * len(jobs)
        members: list[_Member] = []
        offset = 0
        for index, (params, progress) in enumerate(jobs):
            try:
                check_common(params)
                prompt, negative, notes = self._prompts(params, progress, timings)
                progress(Progress("denoising", 0, params.steps))
            except Exception as error:  # bad parameters or a cancel: this job alone
                outcomes[index] = error
                continue
            seeds = seeds_for(params.seed, params.num_images)
            members.append(_Member(index, params, progress, prompt, negative, notes, seeds, offset))
            offset += params.num_images
        if not members:
            return _settled(outcomes)
        first = members[0].params
        loras = loras_of(first.loras)
        pipe = self.pipe_for("text-to-image")
        pipe.scheduler = self._schedulers.get(first.scheduler)
        generators = self._generators([seed for member in members for seed in member.seeds])
        live = list(members)
        # Without the caller's one-call report, each member's own callback in turn.
        report = report or _each_callback(members)

        def on_step_end(pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict:
            step, total = index + 1, pipe.num_timesteps
            told: list[tuple[_Member, list[Progress]]] = []
            for member in live:
                preview = None
                if _previews_at(member.params, step, total) and self._previewer:
                    latents = tensors["latents"][member.offset : member.offset + 1]
                    preview = self._previewer(latents, size)
                events = [Progress("denoising", step, total, preview)]
                if step == total:
                    events.append(Progress("decoding", step, total))
                told.append((member, events))
            for member in _told(told, outcomes, report):
                live.remove(member)  # its rows run on to the end; its output is dropped
            if not live:
                raise _Abandoned
            if step == total:
                timings.begin("decode")
            return tensors

        if loras:
            timings.begin("loras")
        images_in_call = offset
        try:
            with (
                self.loras.activate(self._pipes["text-to-image"], loras),
                timings.phase("denoise"),
                self._denoiser.batch_of(images_in_call) if exact else _whole_batches(pipe),
            ):
                embeddings = _encoded(pipe, members, first.guidance_scale)
                result = pipe(
                    width=size[0],
                    height=size[1],
                    num_inference_steps=first.steps,
                    guidance_scale=first.guidance_scale,
                    num_images_per_prompt=1,
                    generator=generators,
                    callback_on_step_end=on_step_end,
                    callback_on_step_end_tensor_inputs=["latents"],
                    **embeddings,
                )
        except _Abandoned:
            return _settled(outcomes)
        except Exception as error:  # the call failed: every job still in it with it
            for member in live:
                outcomes[member.index] = error
            return _settled(outcomes)
        nsfw = getattr(result, "nsfw_content_detected", None)
        batch = {"tasks": len(members), "images": images_in_call, "exact": exact}
        encoding = [(member, [Progress("encoding")]) for member in live]
        for member in _told(encoding, outcomes, report):
            live.remove(member)
        for member in live:
            cut = slice(member.offset, member.offset + member.params.num_images)
            images = list(result.images[cut])
            described = self._described(
                "text-to-image",
                pipe,
                member.params,
                member.notes,
                loras,
                timings,
                None if nsfw is None else nsfw[cut],
                {"batch": batch},
            )
            outcomes[member.index] = _output(
                images, described, member.seeds, member.prompt, member.negative
            )
        return _settled(outcomes)

    def _generators(self, seeds: Sequence[int]) -> list[Any]:
        """One generator per image, each from its seed."""
        import torch

        # MPS generators are not reproducible across runs; a CPU generator is.
        device = "cpu" if self.device == "mps" else self.device
        return [torch.Generator(device=device).manual_seed(seed) for seed in seeds]

    def _prompts(
        self, params: DiffusionParams, progress: ProgressCallback, timings: Timings
    ) -> tuple[str, str | None, tuple[str, ...]]:
        """The prompt and negative a run uses, and notes on how refining changed them."""
        with timings.phase("refine"):
            if not params.refine_prompt:
                return params.prompt, params.negative_prompt, ()
            progress(Progress("refining prompt"))
            refined = self._refine(params)
            return refined.prompt, refined.negative_prompt, tuple(refined.notes)

    def _described(
        self,
        mode: str,
        pipe: Any,
        params: DiffusionParams,
        notes: Sequence[str],
        loras: Sequence[Lora],
        timings: Timings,
        nsfw: Sequence[bool] | None,
        extra: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
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
            **(extra or {}),
            "timings": timings.as_metadata(),
        }
        if nsfw is not None:
            described["nsfwContentDetected"] = bool(nsfw[0])  # the first image, as ever
            described["nsfwContentDetectedPerImage"] = [bool(flag) for flag in nsfw]
        if self.demo:
            described["demo"] = True
            described["note"] = tiny_random.DESCRIPTION
        return described

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


@dataclass(frozen=True, slots=True)
class _Member:
    """One task's job in a batched call; its images are rows `offset`.. of the batch."""

    index: int
    params: DiffusionParams
    progress: ProgressCallback
    prompt: str
    negative: str | None
    notes: tuple[str, ...]
    seeds: list[int]
    offset: int


def _previews_at(params: DiffusionParams, step: int, total: int) -> bool:
    """Whether a run asking for previews gets one at `step` of `total`: every
    `preview_every` steps (about eight per run when unset) and at the last."""
    every = params.preview_every or max(1, params.steps // 8)
    return params.previews and (step % every == 0 or step == total)


class _Abandoned(Exception):
    """Every job of a batch stopped: the call ends at this step."""


def _each_callback(members: Sequence[_Member]) -> BatchProgress:
    """A batch's reports told to each member's own callback, one after another."""
    callbacks = {member.index: member.progress for member in members}

    def report(events: Sequence[tuple[int, Progress]]) -> list[BaseException | None]:
        return [_raised(callbacks[index], event) for index, event in events]

    return report


def _raised(callback: ProgressCallback, event: Progress) -> Exception | None:
    """What `callback` raised of `event`, to end its job alone; None if nothing."""
    try:
        callback(event)
    except Exception as error:
        return error
    return None


def _told(
    told: list[tuple[_Member, list[Progress]]],
    outcomes: list[Output | Exception | None],
    report: BatchProgress,
) -> list[_Member]:
    """`report` of the members' events, a round per event (their step's, then what
    follows it): each member's in order, and none after the one that ended it; returns
    those it ended, their outcomes noted."""
    ended: list[_Member] = []
    for turn in range(max((len(events) for _, events in told), default=0)):
        members = [
            (member, events[turn])
            for member, events in told
            if turn < len(events) and member not in ended
        ]
        stops = report([(member.index, event) for member, event in members])
        for (member, _), stop in zip(members, stops, strict=True):
            if stop is None:
                continue
            if not isinstance(stop, Exception):  # as from a callback: not this job's alone
                raise stop
            outcomes[member.index] = stop
            ended.append(member)
    return ended


def _settled(outcomes: list[Output | Exception | None]) -> list[Output | Exception]:
    return [outcome if outcome is not None else RuntimeError("no outcome") for outcome in outcomes]


def _encoded(pipe: Any, members: Sequence[_Member], guidance_scale: float) -> dict[str, Any]:
    """The batch's prompt embeddings, each task's encoded as its run alone encodes it
    (one prompt, repeated per image), as keyword arguments of the pipeline's call."""
    import torch

    guided = guidance_scale > 1 and getattr(pipe.unet.config, "time_cond_proj_dim", None) is None
    names = ["prompt_embeds", "negative_prompt_embeds"]
    parts: list[tuple[Any, ...]] = []
    for member in members:
        encoded = pipe.encode_prompt(
            prompt=member.prompt,
            device=pipe._execution_device,
            num_images_per_prompt=member.params.num_images,
            do_classifier_free_guidance=guided,
            negative_prompt=member.negative,
        )
        parts.append(tuple(encoded))
    if len(parts[0]) == 4:  # SDXL: pooled embeddings too
        names += ["pooled_prompt_embeds", "negative_pooled_prompt_embeds"]
    return {
        name: torch.cat([part[place] for part in parts])
        for place, name in enumerate(names)
        if parts[0][place] is not None
    }


@contextlib.contextmanager
def _whole_batches(pipe: Any) -> Iterator[None]:
    """The VAE decodes the batch at once (batch-exact runs decode image by image)."""
    slicing = pipe.vae.use_slicing
    pipe.vae.disable_slicing()
    try:
        yield
    finally:
        if slicing:
            pipe.vae.enable_slicing()


def _output(
    images: list[Image.Image],
    described: dict[str, Any],
    seeds: Sequence[int],
    prompt: str,
    negative: str | None,
) -> Output:
    return Output(
        images=images,
        width=images[0].width,
        height=images[0].height,
        metadata=described,
        seed=seeds[0],
        prompt_used=prompt,
        negative_prompt_used=negative,
        seeds=tuple(seeds),
    )
