"""All configuration, read once from the environment (`ATELIER_*`, `REDIS_URL`).

Every value has a local default, so `make run` works with nothing set. The README
lists them all.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from actors.client.admission import AdmissionPolicy
from actors.config import MAX_BATCH, JobSettings
from actors.kinds import SPECS
from actors.records import TaskKind
from actors.store.redisurl import RedisTarget
from graph.auth import ANONYMOUS
from graph.limits import InputLimits, QueryLimits
from graph.links import MAX_RESULT_IMAGES
from graph.trusted import TrustedDocuments
from pipelines.lora import available as available_loras
from pipelines.models import ModelStore
from project.keysconfig import keys, priority_callers
from project.webhookconfig import webhook_settings

logger = logging.getLogger(__name__)

DEV_SECRET = "atelier-development-secret-change-me"


@dataclass(frozen=True, slots=True)
class Config:
    jobs: JobSettings
    limits: InputLimits
    query_limits: QueryLimits
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str = DEV_SECRET
    # key -> owner name: every key a caller may use, admin keys included.
    api_keys: dict[str, str] = field(default_factory=dict)
    # key -> name: the keys that also open the operators' view.
    admin_keys: dict[str, str] = field(default_factory=dict)
    public_url: str | None = None
    debug: bool = True
    channel_prefix: str = "atelier-channels"
    # Transport limits (HTTP body, websockets, browser origins).
    max_body_bytes: int = 32 * 1024 * 1024
    ws_max_subscriptions: int = 20
    ws_max_messages_per_second: float = 20.0
    ws_message_burst: int = 40
    ws_init_timeout: float = 5.0
    ws_max_buffered_bytes: int = 16 * 1024 * 1024
    ws_max_connections: int = 10_000
    ws_max_per_client: int = 200
    http_header_timeout: float = 10.0
    http_idle_timeout: float = 60.0
    allowed_origins: tuple[str, ...] = ("*",)
    # /readyz fails while no worker was heard from recently (see project.views.readyz).
    ready_requires_workers: bool = True
    # The only documents that may run (ATELIER_TRUSTED_DOCUMENTS); None: any.
    trusted_documents: TrustedDocuments | None = None


def _int(env: dict[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, not {text!r}") from None


def _float(env: dict[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {text!r}") from None


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    return text in ("1", "true", "yes", "on")


def _pairs(text: str, separator: str) -> dict[str, str]:
    pairs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition(separator)
        if not sep or not name.strip() or not value.strip():
            raise SystemExit(f"expected NAME{separator}VALUE pairs, got {item!r}")
        pairs[name.strip()] = value.strip()
    return pairs


def _kinds(text: str) -> tuple[TaskKind, ...]:
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    try:
        return tuple(TaskKind(name) for name in names)
    except ValueError:
        known = ", ".join(TaskKind)
        raise SystemExit(f"ATELIER_PRELOAD takes task kinds ({known}), not {text!r}") from None


def _heartbeat(env: dict[str, str]) -> tuple[float, float]:
    every = _float(env, "ATELIER_HEARTBEAT_EVERY", 5.0)
    stale_after = _float(env, "ATELIER_WORKER_STALE_AFTER", 20.0)
    if not 0 < every < stale_after:
        raise SystemExit(
            "ATELIER_WORKER_STALE_AFTER must exceed ATELIER_HEARTBEAT_EVERY (both positive; "
            f"got {stale_after:g} and {every:g})"
        )
    return every, stale_after


def _max_images(env: dict[str, str], default: int) -> int:
    """Images one task's result may hold: at least 1, at most what links can name."""
    value = _int(env, "ATELIER_MAX_IMAGES", default)
    if not 1 <= value <= MAX_RESULT_IMAGES:
        raise SystemExit(f"ATELIER_MAX_IMAGES must be 1..{MAX_RESULT_IMAGES}, not {value}")
    return value


def _max_batch(env: dict[str, str]) -> int:
    value = _int(env, "ATELIER_MAX_BATCH", 1)
    if not 1 <= value <= MAX_BATCH:
        raise SystemExit(f"ATELIER_MAX_BATCH must be 1..{MAX_BATCH}, not {value}")
    return value


def _trusted_documents(env: dict[str, str]) -> TrustedDocuments | None:
    """The file of hash -> document that codegen writes (or that map inline, as JSON)."""
    value = env.get("ATELIER_TRUSTED_DOCUMENTS", "").strip()
    if not value:
        return None
    try:
        text = value if value.startswith("{") else Path(value).read_text()
        return TrustedDocuments.from_json(text)
    except (OSError, ValueError) as error:
        raise SystemExit(f"ATELIER_TRUSTED_DOCUMENTS: {error}") from None


def load(env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    time_limits = {
        kind: _int(env, f"ATELIER_TIME_LIMIT_{kind.value}", spec.time_limit)
        for kind, spec in SPECS.items()
    }
    admission = AdmissionPolicy()
    heartbeat_every, worker_stale_after = _heartbeat(env)
    api_keys, admin_keys = keys(env)
    redis_url = env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        RedisTarget.parse(redis_url)
    except ValueError as error:
        raise SystemExit(f"REDIS_URL: {error}") from None
    jobs = JobSettings(
        redis_url=redis_url,
        key_prefix=env.get("ATELIER_KEY_PREFIX", "atelier:"),
        broker_namespace=env.get("ATELIER_BROKER_NAMESPACE", "atelier-dramatiq"),
        result_ttl=_int(env, "ATELIER_RESULT_TTL", 3600),
        time_limits=time_limits,
        model_dir=Path(env.get("ATELIER_MODEL_DIR", "models")).resolve(),
        offline=_bool(env, "ATELIER_OFFLINE", True),
        device=env.get("ATELIER_DEVICE") or None,
        default_image_model=env.get("ATELIER_DEFAULT_IMAGE_MODEL", "tiny-random"),
        image_models=_pairs(env.get("ATELIER_IMAGE_MODELS", ""), "="),
        default_background_model=env.get("ATELIER_DEFAULT_BACKGROUND_MODEL", "u2netp"),
        pipeline_cache_size=_int(env, "ATELIER_PIPELINE_CACHE_SIZE", 3),
        max_attempts=_int(env, "ATELIER_MAX_ATTEMPTS", 2),
        max_batch=_max_batch(env),
        batch_wait=max(0.0, _float(env, "ATELIER_BATCH_WAIT_MS", 0.0)) / 1000,
        batch_exact=_bool(env, "ATELIER_BATCH_EXACT", True),
        lease_seconds=_float(env, "ATELIER_LEASE_SECONDS", 30.0),
        dispatch_grace=_float(env, "ATELIER_DISPATCH_GRACE", 30.0),
        sweep_every=_float(env, "ATELIER_SWEEP_EVERY", 5.0),
        shutdown_grace=_float(env, "ATELIER_SHUTDOWN_GRACE", 30.0),
        heartbeat_every=heartbeat_every,
        worker_stale_after=worker_stale_after,
        admission=AdmissionPolicy(
            submit_rate=_float(env, "ATELIER_SUBMIT_RATE", admission.submit_rate),
            submit_burst=_int(env, "ATELIER_SUBMIT_BURST", admission.submit_burst),
            max_unfinished_per_owner=_int(
                env, "ATELIER_MAX_UNFINISHED_PER_KEY", admission.max_unfinished_per_owner
            ),
            max_queued=_int(env, "ATELIER_MAX_QUEUED", admission.max_queued),
        ),
        preload=_kinds(env.get("ATELIER_PRELOAD", ",".join(kind.value for kind in TaskKind))),
        # Without keys, everyone is the one anonymous caller.
        webhooks=webhook_settings(env, set(api_keys.values()) or {ANONYMOUS}),
    )
    defaults = InputLimits()
    max_images = _max_images(env, defaults.max_images)
    callers = set(api_keys.values()) or {ANONYMOUS}
    limits = InputLimits(
        max_images=max_images,
        max_batch_submit=_int(env, "ATELIER_MAX_BATCH_SUBMIT", defaults.max_batch_submit),
        high_priority_callers=priority_callers(env, callers, set(admin_keys.values())),
        min_side=_int(env, "ATELIER_MIN_SIDE", defaults.min_side),
        max_side=_int(env, "ATELIER_MAX_SIDE", defaults.max_side),
        max_steps=_int(env, "ATELIER_MAX_STEPS", defaults.max_steps),
        max_deadline_seconds=_int(
            env, "ATELIER_MAX_DEADLINE_SECONDS", defaults.max_deadline_seconds
        ),
        max_prompt_chars=_int(env, "ATELIER_MAX_PROMPT_CHARS", defaults.max_prompt_chars),
        max_image_bytes=_int(env, "ATELIER_MAX_IMAGE_BYTES", defaults.max_image_bytes),
        max_image_pixels=_int(env, "ATELIER_MAX_IMAGE_PIXELS", defaults.max_image_pixels),
        max_jpeg_scans=_int(env, "ATELIER_MAX_JPEG_SCANS", defaults.max_jpeg_scans),
        decode_timeout=_float(env, "ATELIER_DECODE_TIMEOUT", defaults.decode_timeout),
        decode_concurrency=max(
            1, _int(env, "ATELIER_DECODE_CONCURRENCY", defaults.decode_concurrency)
        ),
        models={kind: frozenset(spec.known_models(jobs)) for kind, spec in SPECS.items()},
        # Read once: an adapter added to the store is accepted after a restart.
        loras=available_loras(ModelStore(jobs.model_dir)),
        webhooks=jobs.webhooks,
    )
    debug = _bool(env, "ATELIER_DEBUG", True)
    query_defaults = QueryLimits()
    return Config(
        jobs=jobs,
        limits=limits,
        query_limits=QueryLimits(
            max_depth=_int(env, "ATELIER_MAX_QUERY_DEPTH", query_defaults.max_depth),
            max_aliases=_int(env, "ATELIER_MAX_ALIASES", query_defaults.max_aliases),
            max_tokens=_int(env, "ATELIER_MAX_TOKENS", query_defaults.max_tokens),
            introspection=_bool(env, "ATELIER_INTROSPECTION", debug),
            max_inline_images=_int(
                env, "ATELIER_MAX_INLINE_IMAGES", query_defaults.max_inline_images
            ),
            max_images_per_task=max_images,
            read_rate=_float(env, "ATELIER_READ_RATE", query_defaults.read_rate),
            read_burst=_int(env, "ATELIER_READ_BURST", query_defaults.read_burst),
        ),
        host=env.get("ATELIER_HOST", "127.0.0.1"),
        port=_int(env, "ATELIER_PORT", 8000),
        secret_key=env.get("ATELIER_SECRET_KEY") or DEV_SECRET,
        api_keys=api_keys,
        admin_keys=admin_keys,
        public_url=(env.get("ATELIER_PUBLIC_URL") or "").rstrip("/") or None,
        debug=debug,
        channel_prefix=env.get("ATELIER_CHANNEL_PREFIX", "atelier-channels"),
        max_body_bytes=_int(env, "ATELIER_MAX_BODY_BYTES", 32 * 1024 * 1024),
        ws_max_subscriptions=_int(env, "ATELIER_WS_MAX_SUBSCRIPTIONS", 20),
        ws_max_messages_per_second=_float(env, "ATELIER_WS_MAX_MESSAGES_PER_SECOND", 20.0),
        ws_message_burst=_int(env, "ATELIER_WS_MESSAGE_BURST", 40),
        ws_init_timeout=_float(env, "ATELIER_WS_INIT_TIMEOUT", 5.0),
        ws_max_buffered_bytes=_int(env, "ATELIER_WS_MAX_BUFFERED_BYTES", 16 * 1024 * 1024),
        ws_max_connections=_int(env, "ATELIER_WS_MAX_CONNECTIONS", 10_000),
        ws_max_per_client=_int(env, "ATELIER_WS_MAX_PER_CLIENT", 200),
        http_header_timeout=_float(env, "ATELIER_HTTP_HEADER_TIMEOUT", 10.0),
        http_idle_timeout=_float(env, "ATELIER_HTTP_IDLE_TIMEOUT", 60.0),
        ready_requires_workers=_bool(env, "ATELIER_READY_REQUIRES_WORKERS", True),
        trusted_documents=_trusted_documents(env),
        allowed_origins=tuple(
            part.strip().rstrip("/")
            for part in env.get("ATELIER_ALLOWED_ORIGINS", "*").split(",")
            if part.strip()
        ),
    )
