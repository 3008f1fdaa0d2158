"""Running one task in a worker: start it, run its pipeline, write exactly one outcome."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from dramatiq.middleware import TimeLimitExceeded

from actors.config import JobSettings
from actors.pipeline_cache import PipelineCache
from actors.progress import Publish, TaskReporter
from actors.records import ResultInfo, TaskKind, TaskRecord
from actors.store import TaskStore
from pipelines.errors import Cancelled, PipelineError
from pipelines.models import ModelStore, choose_device
from pipelines.output import Output
from pipelines.progress import Progress

logger = logging.getLogger(__name__)


class TaskRunner:
    """Runs tasks by id. One per worker process; pipelines stay loaded between tasks."""

    def __init__(self, settings: JobSettings, store: TaskStore, publish: Publish) -> None:
        self.settings = settings
        self.store = store
        self.publish = publish
        self.cache = PipelineCache(settings.pipeline_cache_size)
        self.models = ModelStore(root=settings.model_dir, offline=settings.offline)
        self._device: str | None = settings.device

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = choose_device()
        return self._device

    def run(self, task_id: str) -> None:
        record = self.store.start(task_id, max_attempts=self.settings.max_attempts)
        if record is None:
            logger.info("task %s has ended or is gone; skipping", task_id)
            return
        self.publish(record)
        if record.status.terminal:  # redelivered too often: ended as WORKER_LOST
            logger.warning("task %s ended %s on redelivery", task_id, record.error_code)
            return
        if record.attempts > 1:
            logger.warning("task %s taken over (attempt %d)", task_id, record.attempts)
        reporter = TaskReporter(self.store, self.publish, record)
        final: TaskRecord | None
        try:
            output = self._execute(record, reporter)
        except Cancelled:
            final = self.store.cancelled(reporter.record)
        except PipelineError as error:
            if error.public_message != error.message:
                logger.warning("task %s failed %s: %s", task_id, error.code, error.message)
            final = self.store.fail(reporter.record, error.code, error.public_message)
        except TimeLimitExceeded:  # raised into this thread by Dramatiq's TimeLimit
            limit = self.settings.time_limits[record.kind]
            final = self.store.fail(
                reporter.record, "TIMEOUT", f"the task ran past its time limit of {limit} s"
            )
        except Exception:
            incident = uuid.uuid4().hex[:12]
            logger.exception("task %s failed (incident %s)", task_id, incident)
            final = self.store.fail(
                reporter.record,
                "PIPELINE_ERROR",
                f"the pipeline failed unexpectedly (incident {incident})",
            )
        else:
            final = self.store.succeed(
                reporter.record,
                ResultInfo(
                    width=output.width,
                    height=output.height,
                    seed=output.seed,
                    prompt_used=output.prompt_used,
                    negative_prompt_used=output.negative_prompt_used,
                    metadata=output.metadata,
                ),
                output.png,
            )
        if final is not None:
            self.publish(final)

    def preload(self, kind: TaskKind) -> None:
        """Load the default pipeline of `kind` into the cache."""
        self._pipeline(kind, None)

    def _execute(self, record: TaskRecord, reporter: TaskReporter) -> Output:
        params = dict(record.params)
        input_names = params.pop("_inputs", [])
        model = params.pop("model", None)
        for name in input_names:
            data = self.store.input_bytes(record.id, name)
            if data is None:
                raise PipelineError(f"the task's input {name!r} is missing", field=name)
            params[name] = data
        pipeline, params_type = self._pipeline(record.kind, model, reporter)
        return pipeline.run(params_type(**params), reporter)

    def _pipeline(
        self, kind: TaskKind, model: str | None, reporter: TaskReporter | None = None
    ) -> tuple[Any, type]:
        """The warm pipeline for `kind` and `model` (its default when None), and its params type.

        Cached under the resolved model name, so naming the default model explicitly
        reuses the pipeline already loaded for it.
        """
        settings, store, device = self.settings, self.models, self.device
        load: Callable[[], Any]
        if kind is TaskKind.IMAGE_GENERATION:
            from pipelines.text_to_image import DEFAULT_MODELS, TextToImage, TextToImageParams

            catalog = {**DEFAULT_MODELS, **settings.image_models}
            name = model or settings.default_image_model
            params_type: type = TextToImageParams

            def load() -> Any:
                return TextToImage.load(name, store, catalog=catalog, device=device)

        elif kind is TaskKind.BACKGROUND_REMOVAL:
            from pipelines.background_removal import BackgroundRemoval, BackgroundRemovalParams

            name = model or settings.default_background_model
            params_type = BackgroundRemovalParams

            def load() -> Any:
                return BackgroundRemoval.load(name, store, device=device)

        else:
            from pipelines.face_swap import FaceSwap, FaceSwapParams

            name, params_type = "default", FaceSwapParams

            def load() -> Any:
                return FaceSwap.load(store, device=device)

        key = (kind, name)
        if reporter is not None and key not in self.cache:
            reporter(Progress("loading model"))
        return self.cache.get(key, load), params_type
