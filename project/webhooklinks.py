"""The image URLs in a webhook's body, made on the worker as the web makes `Image.url`
(graph.types): the same signer and secret (`ATELIER_SECRET_KEY`), the same expiry,
under `ATELIER_PUBLIC_URL` or else the base URL the web was reached at for the submit."""

from __future__ import annotations

from dataclasses import dataclass

from actors.records import TaskRecord
from graph.links import PREVIEW, LinkSigner, link_expiry, result_variant
from project.config import Config


@dataclass(frozen=True, slots=True)
class WebhookLinks:
    """An `actors.webhooks.payload.ImageLinks`."""

    signer: LinkSigner
    result_ttl: int
    public_url: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> WebhookLinks:
        # The signer project.services gives the web, from the same setting.
        signer = LinkSigner(config.secret_key.encode())
        return cls(signer, config.jobs.result_ttl, config.public_url)

    def url(self, record: TaskRecord, image: int | None) -> str | None:
        base = self.public_url or record.webhook_base_url
        if not base:
            return None
        variant = PREVIEW if image is None else result_variant(image)
        expires = link_expiry(record.expires_at, self.result_ttl)
        return base + self.signer.path(record.id, variant, expires)
