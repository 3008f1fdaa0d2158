"""`KindSpec`: everything the job system knows about one task kind, in one value.

The job system holds no per-kind tables or `if kind is ...` chains: queues, time
limits, parameter types, input images, progress spans and pipeline loading are read
from a kind's spec (`actors.kinds.spec_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from actors.records import TaskKind
from pipelines.models import ModelStore
from pipelines.pipeline import Pipeline

if TYPE_CHECKING:
    from actors.config import JobSettings

P = TypeVar("P")

# Stages every kind goes through: before its pipeline reports anything, and the PNG
# every pipeline's `Output` is encoded to at the end. A spec may give its own span.
COMMON_STAGES: Mapping[str, tuple[float, float]] = {
    "starting": (0.0, 0.0),
    "loading model": (0.01, 0.03),
    "encoding": (0.95, 0.95),
}


@dataclass(frozen=True, slots=True)
class LoadContext:
    """What a spec may use to load its pipeline in a worker."""

    settings: JobSettings
    models: ModelStore
    device: str


@dataclass(frozen=True, slots=True)
class KindSpec(Generic[P]):
    """One task kind.

    `params` is the pipeline's parameter type: a task's stored params (less its
    model and its input images' names) are its keyword arguments, and each name in
    `inputs` is a params field that holds an input image, kept in Redis beside the
    record until the task runs. `stages` maps each stage the pipeline reports to the
    share of the run where it starts and ends (step-wise stages move through their
    span). With `queue_per_model`, each model but the default gets a queue of its
    own (`<queue>.<model>`), so a worker keeping one warm keeps getting its tasks.

    With `batch_key`, a worker may run tasks of this kind whose keys (of their
    params) are equal and which name the same model as one call of the pipeline's
    `run_batch` (see actors.worker.batching).

    `load` gives what a worker keeps warm (the weights), cached per model under
    `weights_of` (the kind whose loaded weights this kind runs on: its own unless
    set); `bind` makes the kind's pipeline over them (cheap: once per run). Kinds
    sharing weights share the queue too, so a worker warm for a model gets them all.
    """

    kind: TaskKind
    queue: str
    time_limit: int  # seconds; ATELIER_TIME_LIMIT_<KIND> overrides it
    params: type[P]
    stages: Mapping[str, tuple[float, float]]
    default_model: Callable[[JobSettings], str]
    known_models: Callable[[JobSettings], Collection[str]]
    load: Callable[[LoadContext, str], Any]
    bind: Callable[[Any], Pipeline[P]] = lambda loaded: loaded  # most kinds run what they load
    weights_of: TaskKind | None = None
    inputs: tuple[str, ...] = ()
    queue_per_model: bool = False
    batch_key: Callable[[Any], Hashable] | None = None

    @property
    def weights_kind(self) -> TaskKind:
        return self.weights_of or self.kind

    def weights_for(self, settings: JobSettings, model: object) -> tuple[TaskKind, str]:
        """What a task naming `model` (None: the default) runs on, as the worker's
        pipeline cache keys it: kinds sharing weights share the entry."""
        return (self.weights_kind, str(model) if model else self.default_model(settings))

    def queue_for(self, settings: JobSettings, model: str | None) -> str:
        """The queue a task naming `model` (None: the default) is sent to."""
        if not self.queue_per_model or model in (None, self.default_model(settings)):
            return self.queue
        return f"{self.queue}.{model}"

    def queues(self, settings: JobSettings) -> set[str]:
        """Every queue a task of this kind can be sent to."""
        return {self.queue_for(settings, model) for model in (None, *self.known_models(settings))}

    def span(self, stage: str) -> tuple[float, float]:
        return self.stages.get(stage) or COMMON_STAGES.get(stage, (0.0, 0.0))

    def make_params(self, values: Mapping[str, Any]) -> P:
        return self.params(**values)
