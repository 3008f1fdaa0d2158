"""The contract every pipeline class meets: load once, then run many times.

`load(model, store, *, device)` resolves `model` (None picks the pipeline's default)
against the `ModelStore`, never downloading while the store is offline, and raises
`UnknownModel` (field "model") or `ModelNotAvailable`. Pipelines may take further
keyword options with defaults. `run(params, progress)` does one job, reports through
`progress` (which may raise `Cancelled` to stop it) and returns an `Output` whose
`metadata["timings"]` follows `pipelines.timing`. A loaded pipeline runs one call at
a time.
"""

from __future__ import annotations

from typing import Protocol, Self, TypeVar

from pipelines.models import ModelStore
from pipelines.output import Output
from pipelines.progress import ProgressCallback

P = TypeVar("P", contravariant=True)


class Pipeline(Protocol[P]):
    """A pipeline taking `P` as its parameters."""

    @classmethod
    def load(cls, model: str | None, store: ModelStore, *, device: str) -> Self: ...

    def run(self, params: P, progress: ProgressCallback = ...) -> Output: ...
