"""The contract every pipeline class meets: load once, then run many times.

`load(model, store, *, device)` resolves `model` (None picks the pipeline's default)
against the `ModelStore`, never downloading while the store is offline, and raises
`UnknownModel` (field "model") or `ModelNotAvailable`. Pipelines may take further
keyword options with defaults. `run(params, progress)` does one job, reports through
`progress` (which may raise `Cancelled` to stop it) and returns an `Output` whose
`metadata["timings"]` follows `pipelines.timing`. A loaded pipeline runs one call at
a time.

A `BatchPipeline` can also run the jobs of several tasks in one call
(`run_batch`): jobs whose `batch_key` is equal share it, each keeping its own
progress callback and outcome.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol, Self, TypeVar

from pipelines.models import ModelStore
from pipelines.output import Output
from pipelines.progress import BatchProgress, ProgressCallback

P = TypeVar("P", contravariant=True)


class Pipeline(Protocol[P]):
    """A pipeline taking `P` as its parameters."""

    @classmethod
    def load(cls, model: str | None, store: ModelStore, *, device: str) -> Self: ...

    def run(self, params: P, progress: ProgressCallback = ...) -> Output: ...


class BatchPipeline(Pipeline[P], Protocol[P]):
    """A pipeline that runs compatible jobs of several tasks as one call.

    `run_batch` returns one outcome per job, in order: its `Output`, or the exception
    that ended it alone (`Cancelled` raised by its own callback stops only that job,
    whose output is dropped; the others go on). An exception it raises ends them all.
    With `exact`, each job's output is byte for byte what `run` makes of it alone on
    the same device; without, batched kernels may change pixel values slightly.
    Each step, the jobs' callbacks are called one after another, each job's events in
    order; or, given `report`, every job's events of a step go to it in one call
    instead (the callbacks still hear of the stages before the steps).
    """

    @staticmethod
    def batch_key(params: P) -> Hashable: ...

    def run_batch(
        self,
        jobs: Sequence[tuple[P, ProgressCallback]],
        *,
        exact: bool = True,
        report: BatchProgress | None = None,
    ) -> list[Output | Exception]: ...
