"""submitTask's webhook: its input, its check at submit, and `Task.webhook`."""

from __future__ import annotations

import asyncio

import strawberry

from actors.interface import (
    AllowList,
    TaskRecord,
    UnsafeWebhook,
    WebhookEvent,
    WebhookRequest,
    WebhookSettings,
    check_webhook_url,
)
from graph.errors import BadUserInput
from graph.validation import require_unicode

strawberry.enum(WebhookEvent, name="WebhookEvent")


@strawberry.input(
    description="Where to POST the task's events, signed per the Standard Webhooks "
    "specification (see the README, Webhooks)."
)
class WebhookInput:
    url: str = strawberry.field(
        description="https with a public address, unless the server admits the host."
    )
    events: list[WebhookEvent] = strawberry.field(
        default_factory=lambda: [WebhookEvent.COMPLETED],
        description="COMPLETED: any terminal status. PROGRESS: at most one per 500 ms.",
    )


@strawberry.type(description="How the task's webhook deliveries went.")
class WebhookStatus:
    url: str
    events: list[WebhookEvent]
    deliveries: int = strawberry.field(description="HTTP attempts made, all events together.")
    last_status: int | None = strawberry.field(description="The last attempt's HTTP status.")
    last_error: str | None
    delivered: bool = strawberry.field(description="The COMPLETED event was delivered.")


async def checked_webhook(
    webhook: WebhookInput, settings: WebhookSettings, owner: str, base_url: str
) -> WebhookRequest:
    """The webhook for the job system, or BAD_USER_INPUT. `base_url`: where the web was
    reached, the base of image links in the bodies (when no public URL is configured)."""
    if settings.secret_for(owner) is None:
        raise BadUserInput(
            "webhooks are not enabled for this caller on this server (ATELIER_WEBHOOK_SECRET"
            " or ATELIER_WEBHOOK_SECRETS)",
            "webhook",
        )
    require_unicode(webhook.url, "webhook.url")
    if not webhook.events:
        raise BadUserInput("name at least one event", "webhook.events")
    try:
        # Resolves the host: off the event loop.
        await asyncio.to_thread(check_webhook_url, webhook.url, AllowList(settings.allow_hosts))
    except UnsafeWebhook as error:
        raise BadUserInput(f"webhook.url: {error}", "webhook.url") from None
    events = sorted({WebhookEvent(event).value for event in webhook.events})
    return WebhookRequest(webhook.url, tuple(events), base_url)


def webhook_status(record: TaskRecord) -> WebhookStatus | None:
    if not record.webhook_url:
        return None
    return WebhookStatus(
        url=record.webhook_url,
        events=[WebhookEvent(name) for name in (record.webhook_events or "").split(",") if name],
        deliveries=record.webhook_deliveries,
        last_status=record.webhook_status,
        last_error=record.webhook_error,
        delivered=record.webhook_delivered,
    )
