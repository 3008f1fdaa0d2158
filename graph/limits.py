"""Bounds on what a client may submit; values come from configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from actors.interface import TaskKind, WebhookSettings

# Images one task's result may hold (`ATELIER_MAX_IMAGES`).
MAX_IMAGES_PER_TASK = 4


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Bounds on the shape of a GraphQL document, checked before it runs."""

    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    introspection: bool = True
    # Units of each of graphql-core's two validation budgets (see graph/documents.py):
    # field comparisons, and fragment spreads and variable uses per operation. Spending
    # all of one takes about 10 ms; an application's documents spend tens.
    max_validation_work: int = 5000
    # What one caller's reads may cost (see graph/cost.py, graph/ratelimits.py).
    max_inline_images: int = 10
    # Images one result may hold (`ATELIER_MAX_IMAGES`): `TaskResult.images` counts as
    # this many inline images when its `base64` is selected.
    max_images_per_task: int = MAX_IMAGES_PER_TASK
    read_rate: float = 30.0  # queries a second per key, on each web node
    read_burst: int = 100


@dataclass(frozen=True, slots=True)
class InputLimits:
    min_side: int = 64
    max_side: int = 2048
    max_steps: int = 150
    max_guidance: float = 30.0
    max_prompt_chars: int = 2000
    max_image_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 16_000_000
    max_idempotency_key_chars: int = 200
    # submitTask's deadlineSeconds bound (`ATELIER_MAX_DEADLINE_SECONDS`).
    max_deadline_seconds: int = 86_400
    # numImages' bound: images one task's result may hold (`ATELIER_MAX_IMAGES`, the
    # same value as `QueryLimits.max_images_per_task`).
    max_images: int = MAX_IMAGES_PER_TASK
    max_tasks_listed: int = 100
    # submitTasks' inputs (`ATELIER_MAX_BATCH_SUBMIT`).
    max_batch_submit: int = 100
    # Callers whose tasks may be HIGH priority (`ATELIER_PRIORITY_KEYS`).
    high_priority_callers: frozenset[str] = frozenset()
    # Operations.runningTasks(limit): one running task per worker thread, so this
    # bounds the reply of a very large deployment, not a typical one.
    max_running_listed: int = 1000
    # The model names each kind accepts (its spec's `known_models`).
    models: Mapping[TaskKind, frozenset[str]] = field(default_factory=dict)
    # The LoRA adapters diffusion kinds accept: the model store's lora/ folder as the
    # web node found it at start.
    loras: frozenset[str] = frozenset()
    # Input images: progressive JPEG scans (see pipelines.images.ImageLimits), and the
    # decodes that check them after admission: seconds each may take (and may wait
    # for a slot), and how many run at once in one web process.
    max_jpeg_scans: int = 24
    decode_timeout: float = 5.0
    decode_concurrency: int = 2
    # submitTask's webhook: accepted only with a secret; which URLs (see graph/webhooks.py).
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
