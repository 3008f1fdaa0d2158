"""Signed, time-limited links to result and preview bytes, usable in an <img> tag.

The signature is an HMAC over task id, variant and expiry: a link opens exactly
one image of one task until it expires, and the task's own expiry ends it too.
A variant is "preview", or one image of the result: "result" (the first, as it
always was) and "result-1" .. "result-99" for those after it, each spelt one way
only (no sign, no leading zero).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime

RESULT, PREVIEW = "result", "preview"
# The images of a result after its first; bounds `ATELIER_MAX_IMAGES`.
_MORE_RESULTS = re.compile(r"result-([1-9][0-9]?)", re.ASCII)
MAX_RESULT_IMAGES = 100
# ASCII only: str.isdigit() accepts superscripts, and int() refuses huge numbers.
_EXPIRES = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"[0-9a-f]{32}", re.ASCII)


def result_variant(index: int) -> str:
    """The variant of the result's image `index` (0: the first)."""
    if not 0 <= index < MAX_RESULT_IMAGES:
        raise ValueError(f"a result holds at most {MAX_RESULT_IMAGES} images, not {index + 1}")
    return RESULT if index == 0 else f"{RESULT}-{index}"


def result_index(variant: str) -> int | None:
    """Which image of the result `variant` names; None when it names none (a preview,
    or anything not spelt as `result_variant` spells it)."""
    if variant == RESULT:
        return 0
    more = _MORE_RESULTS.fullmatch(variant)
    return int(more.group(1)) if more else None


def link_expiry(task_expires_at: datetime | None, result_ttl: int) -> int:
    """When the links of a task's images expire (epoch seconds): with the task; while
    it has no expiry (not finished: a preview), one TTL from now."""
    if task_expires_at is not None:
        return math.ceil(task_expires_at.timestamp())
    return math.ceil(time.time() + result_ttl)


class LinkState(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"  # ours, but the task (and so the image) is gone
    FORGED = "forged"


@dataclass(frozen=True, slots=True)
class LinkSigner:
    secret: bytes

    def signature(self, task_id: str, variant: str, expires: int) -> str:
        message = f"{task_id}\n{variant}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    def path(self, task_id: str, variant: str, expires: int) -> str:
        sig = self.signature(task_id, variant, expires)
        return f"/images/{task_id}/{variant}.png?expires={expires}&sig={sig}"

    def check(self, task_id: str, variant: str, expires: str, sig: str) -> LinkState:
        """Whether a link is ours and unaltered (else FORGED), and still in date."""
        if (
            (variant != PREVIEW and result_index(variant) is None)
            or not _EXPIRES.fullmatch(expires)
            or not _SIGNATURE.fullmatch(sig)
        ):
            return LinkState.FORGED
        expected = self.signature(task_id, variant, int(expires))
        if not hmac.compare_digest(expected, sig):
            return LinkState.FORGED
        return LinkState.EXPIRED if int(expires) < time.time() else LinkState.VALID
