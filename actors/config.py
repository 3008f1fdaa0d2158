"""What the job system needs to know, handed to it by `project/` (which reads the environment)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from actors.client.admission import AdmissionPolicy
from actors.kinds import SPECS, spec_for
from actors.records import TaskKind
from actors.store.redisurl import RedisTarget
from actors.webhooks.config import WebhookSettings

# Tasks one batch may hold (ATELIER_MAX_BATCH): each keeps a lease thread running.
MAX_BATCH = 64


def _default_time_limits() -> dict[TaskKind, int]:
    return {kind: spec.time_limit for kind, spec in SPECS.items()}


@dataclass(frozen=True, slots=True)
class JobSettings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "atelier:"
    # Dramatiq's own key namespace; kept apart from the task store's prefix.
    broker_namespace: str = "atelier-dramatiq"
    result_ttl: int = 3600
    time_limits: dict[TaskKind, int] = field(default_factory=_default_time_limits)
    model_dir: Path = Path("models")
    offline: bool = True
    device: str | None = None
    default_image_model: str = "tiny-random"
    # Extra or overriding text-to-image models: name -> hub id or local path.
    image_models: dict[str, str] = field(default_factory=dict)
    default_background_model: str = "u2netp"
    # One warm pipeline per kind by default; raise it for workers that switch models.
    pipeline_cache_size: int = 3
    admission: AdmissionPolicy = field(default_factory=AdmissionPolicy)
    # Runs of one task lost to a dead worker before it ends WORKER_LOST.
    max_attempts: int = 2
    # A running task's lease: renewed every third of it; lapsed = its worker died.
    lease_seconds: float = 30.0
    # How long a created or requeued task may wait for its queue message to be
    # sent before a sweeper sends it (the sender died in between).
    dispatch_grace: float = 30.0
    # How often each worker looks for lapsed leases and unsent messages.
    sweep_every: float = 5.0
    # A stopping worker lets its task run this long, then hands it back to the queue.
    shutdown_grace: float = 30.0
    # How long a worker retries a write while Redis is unreachable.
    redis_patience: float = 60.0
    # How often each worker announces itself in the worker registry (actors.store.registry),
    # and how long after its last announcement it counts as gone.
    heartbeat_every: float = 5.0
    worker_stale_after: float = 20.0
    # Compatible tasks a worker runs as one pipeline call (1: no batching), how long it
    # waits for more to arrive once it has one, and whether each task's images must
    # be byte for byte those it gets alone (else batched kernels: faster, may differ
    # by rounding). See actors.worker.batching.
    max_batch: int = 1
    batch_wait: float = 0.0
    batch_exact: bool = True
    # Kinds whose default pipeline a worker loads before taking tasks.
    preload: tuple[TaskKind, ...] = tuple(TaskKind)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)

    def queue_for(self, kind: TaskKind, model: str | None) -> str:
        """The queue of a task of `kind` naming `model` (None: the default model)."""
        return spec_for(kind).queue_for(self, model)

    @property
    def queues(self) -> list[str]:
        """Every queue a task can be sent to: each kind's, and each model's that has one."""
        return sorted(set().union(*(spec.queues(self) for spec in SPECS.values())))

    @property
    def redis(self) -> RedisTarget:
        """Where Redis is: one URL for the queues, the task store and the channel layer."""
        return RedisTarget.parse(self.redis_url)
