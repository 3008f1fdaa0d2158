"""LoRA adapters from the model store: loaded once per worker, switched on per run.

An adapter is a file `lora/<name>.safetensors` in the model store (diffusers' or
kohya's format), named by its file's stem. `LoraAdapters` loads one into a
pipeline's denoiser (and text encoder, where the file has weights for it) the first
time a run names it and keeps it loaded: a later run naming it only sets its weight.
`activate` turns on exactly the adapters a run names, each at its scale, and turns
them all off when the run ends (failed and cancelled runs too): a run naming none
runs the base model exactly, since peft's disabled layers call their base layers
alone. Views made with `from_pipe` share the denoiser and text encoder, so adapters
loaded on the text-to-image pipeline apply to image-to-image and inpainting as well.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import InvalidParameters, ModelNotAvailable
from pipelines.models import ModelStore

logger = logging.getLogger(__name__)

FAMILY = "lora"
SUFFIX = ".safetensors"
MAX_LORAS = 5  # adapters one run may combine
# Scales a run may give: negative ones push away from what an adapter learned
# (slider LoRAs), past about 2 most adapters make noise.
MIN_SCALE = -2.0
MAX_SCALE = 2.0
# Adapters a worker keeps loaded per set of weights; the least recently used goes first.
MAX_LOADED = 16


@dataclass(frozen=True, slots=True)
class Lora:
    """One adapter a run names, and how strongly it applies (1.0: as trained)."""

    name: str
    scale: float = 1.0

    @classmethod
    def of(cls, value: Lora | Mapping[str, Any]) -> Lora:
        """`value` as a `Lora`; a task's stored params hold `{"name", "scale"}` dicts."""
        if isinstance(value, Lora):
            return value
        return cls(name=str(value["name"]), scale=float(value.get("scale", 1.0)))

    def as_metadata(self) -> dict[str, Any]:
        return {"name": self.name, "scale": self.scale}


def loras_of(values: Iterable[Lora | Mapping[str, Any]] | None) -> tuple[Lora, ...]:
    return tuple(Lora.of(value) for value in values or ())


def check_loras(loras: Sequence[Lora]) -> None:
    """Raise `InvalidParameters` unless `loras` is at most `MAX_LORAS` distinct names,
    each with a finite scale within `MIN_SCALE`..`MAX_SCALE`."""
    if len(loras) > MAX_LORAS:
        raise InvalidParameters(f"at most {MAX_LORAS} LoRAs per task", field="loras")
    seen: set[str] = set()
    for index, lora in enumerate(loras):
        if not math.isfinite(lora.scale) or not MIN_SCALE <= lora.scale <= MAX_SCALE:
            raise InvalidParameters(
                f"a LoRA's scale must be from {MIN_SCALE:g} to {MAX_SCALE:g}",
                field=f"loras.{index}.scale",
            )
        if lora.name in seen:
            raise InvalidParameters(
                f"LoRA {lora.name!r} is named twice", field=f"loras.{index}.name"
            )
        seen.add(lora.name)


def is_plain_name(name: str) -> bool:
    """Whether `name` can only mean a file directly in the store's LoRA folder."""
    return bool(name) and Path(name).name == name and not name.startswith(".")


def available(store: ModelStore) -> frozenset[str]:
    """The names of the adapters in `store` (none when it has no LoRA folder)."""
    folder = store.folder(FAMILY)
    if not folder.is_dir():
        return frozenset()
    return frozenset(
        path.name.removesuffix(SUFFIX)
        for path in folder.iterdir()
        if path.name.endswith(SUFFIX)
        and is_plain_name(path.name.removesuffix(SUFFIX))
        and path.is_file()
    )


@dataclass(frozen=True, slots=True)
class _Loaded:
    adapter: str  # the name peft knows it by: a LoRA's own name may hold dots
    signature: tuple[int, int]  # the file's mtime and size when loaded


class LoraAdapters:
    """The adapters loaded into one pipeline's weights, by name.

    Not thread-safe, as the pipeline it switches is not: one run at a time.
    """

    def __init__(self, store: ModelStore | None, *, max_loaded: int = MAX_LOADED) -> None:
        self._store = store
        self._max_loaded = max(max_loaded, MAX_LORAS)
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()
        self._ids = itertools.count()

    @property
    def loaded(self) -> tuple[str, ...]:
        """The names now loaded, least recently used first."""
        return tuple(self._loaded)

    def available(self) -> frozenset[str]:
        return frozenset() if self._store is None else available(self._store)

    @contextmanager
    def activate(self, pipe: Any, loras: Sequence[Lora]) -> Iterator[None]:
        """Run the body with exactly `loras` on in `pipe` (the pipeline the weights were
        loaded with), each at its scale, and every adapter off afterwards.

        Loads what is not loaded yet. Raises `ModelNotAvailable` for a name with no
        file in the store, `InvalidParameters` for a file that is no LoRA for these
        weights; the field is the LoRA's place in the list (`loras.1.name`).
        """
        check_loras(loras)
        if not loras:
            yield
            return
        try:
            adapters = [
                self._load(pipe, lora.name, f"loras.{index}.name")
                for index, lora in enumerate(loras)
            ]
            self._evict(pipe, keep={lora.name for lora in loras})
            pipe.enable_lora()
            pipe.set_adapters(adapters, adapter_weights=[lora.scale for lora in loras])
            yield
        finally:
            # Also after a failed load: layers peft has just wrapped start out enabled.
            if self._loaded:
                pipe.disable_lora()

    def _path(self, name: str, field: str) -> Path:
        folder = self._store.folder(FAMILY) if self._store is not None else None
        path = folder / f"{name}{SUFFIX}" if folder is not None and is_plain_name(name) else None
        if path is None or not path.is_file():
            raise ModelNotAvailable(
                f"LoRA {name!r} is not available: looked in {folder}",
                field=field,
                public_message=f"LoRA {name!r} is not available on this server",
            )
        return path

    def _load(self, pipe: Any, name: str, field: str) -> str:
        path = self._path(name, field)
        stat = path.stat()
        signature = (stat.st_mtime_ns, stat.st_size)
        loaded = self._loaded.get(name)
        if loaded is not None:
            if loaded.signature == signature:
                self._loaded.move_to_end(name)
                return loaded.adapter
            self._unload(pipe, name)  # the file was replaced: load the new one
        adapter = f"lora_{next(self._ids)}"
        try:
            pipe.load_lora_weights(str(path), adapter_name=adapter)
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            self._forget(pipe, adapter)
            raise InvalidParameters(
                f"LoRA {name!r} ({path}) could not be loaded: {error}",
                field=field,
                public_message=f"LoRA {name!r} could not be loaded: it does not fit this model",
            ) from None
        logger.info("loaded LoRA %s from %s as %s", name, path, adapter)
        self._loaded[name] = _Loaded(adapter, signature)
        return adapter

    def _evict(self, pipe: Any, keep: set[str]) -> None:
        for name in list(self._loaded):
            if len(self._loaded) <= self._max_loaded:
                return
            if name not in keep:
                self._unload(pipe, name)

    def _unload(self, pipe: Any, name: str) -> None:
        loaded = self._loaded.pop(name)
        self._forget(pipe, loaded.adapter)
        logger.info("unloaded LoRA %s", name)

    @staticmethod
    def _forget(pipe: Any, adapter: str) -> None:
        present = {name for names in pipe.get_list_adapters().values() for name in names}
        if adapter in present:
            pipe.delete_adapters(adapter)
