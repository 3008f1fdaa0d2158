"""Several images in one pipeline call, each coming out exactly as it would alone.

A batched convolution or matrix product does not give the same floating-point
results as the same work one image at a time (the kernels split the work by batch
size), so image k of a batch would differ by a pixel value here and there from a run
of its seed alone, and "image k's seed reproduces image k" would be false. So the
denoiser runs each image's rows (with classifier-free guidance: its unconditional
and its conditional row) as a call of its own, the same shapes a run of one image
makes, and the VAE decodes one image at a time (its slicing). The batch still shares
one pipeline call: prompt encoding, scheduler steps, callbacks and progress.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


class PerImageDenoiser:
    """Wraps a UNet's `forward` so that a batch of `images` images runs image by image.

    Diffusers lays a guided batch out as [uncond 1..n, cond 1..n]: image i owns rows
    i, i+n, ... A tensor argument whose first dimension is the batch is cut the same
    way; anything else (a scalar timestep, a config) is passed as it is.
    """

    def __init__(self, forward: Callable[..., Any]) -> None:
        self._forward = forward
        self.images = 1

    @contextlib.contextmanager
    def batch_of(self, images: int) -> Iterator[None]:
        self.images = images
        try:
            yield
        finally:
            self.images = 1

    def __call__(self, sample: Any, *args: Any, **kwargs: Any) -> Any:
        batch, images = sample.shape[0], self.images
        if images <= 1 or batch % images:
            return self._forward(sample, *args, **kwargs)
        import torch

        parts = []
        for image in range(images):
            rows = torch.arange(image, batch, images, device=sample.device)
            cut = _Cut(rows, batch)
            out = self._forward(cut(sample), *cut(args), **cut(kwargs))
            parts.append((rows, out))
        return _joined(parts, batch)


class _Cut:
    def __init__(self, rows: Any, batch: int) -> None:
        self.rows, self.batch = rows, batch

    def __call__(self, value: Any) -> Any:
        import torch

        if isinstance(value, torch.Tensor):
            return value[self.rows] if value.dim() and value.shape[0] == self.batch else value
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, tuple | list):
            return type(value)(self(item) for item in value)
        return value


def _joined(parts: list[tuple[Any, Any]], batch: int) -> Any:
    """The per-image outputs put back in the batch's row order, in the type the
    UNet returns (a tuple with return_dict=False, else its output dataclass)."""
    import torch

    def sample_of(out: Any) -> Any:
        return out[0] if isinstance(out, tuple) else out.sample

    first = sample_of(parts[0][1])
    joined = torch.empty((batch, *first.shape[1:]), dtype=first.dtype, device=first.device)
    for rows, out in parts:
        joined[rows] = sample_of(out)
    template = parts[0][1]
    if isinstance(template, tuple):
        return (joined, *template[1:])
    return type(template)(sample=joined)


def exact_batches(pipe: Any) -> PerImageDenoiser:
    """Make `pipe`'s denoiser and VAE batch-exact (see the module docstring); the
    returned denoiser is told each run's number of images."""
    denoiser_model = pipe.unet
    denoiser = PerImageDenoiser(denoiser_model.forward)
    denoiser_model.forward = denoiser
    pipe.vae.enable_slicing()
    return denoiser
