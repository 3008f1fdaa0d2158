"""Which diffusers models exist and where their weights are: configured names, the
local store, the Hugging Face cache; never a download while the store is offline."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipelines import tiny_random
from pipelines.errors import UnknownModel
from pipelines.models import ModelStore, fetch_hint

# Configured name -> hub id or local path. Settings may add to or replace these.
DEFAULT_MODELS: dict[str, str] = {
    tiny_random.NAME: tiny_random.NAME,
    "sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "sd-turbo": "stabilityai/sd-turbo",
    "sdxl": "stabilityai/stable-diffusion-xl-base-1.0",
    "sdxl-turbo": "stabilityai/sdxl-turbo",
}
DEFAULT_MODEL = tiny_random.NAME
FAMILY = "diffusers"


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


def hub_id(source: str) -> str | None:
    """`source` when it names a hub repository (what results may say), else None:
    a server path is never shown to clients."""
    looks_like_hub = source.count("/") == 1 and not source.startswith((".", "/", "~"))
    return source if looks_like_hub else None
