"""Signed, time-limited links to result and preview bytes, usable in an <img> tag.

The signature is an HMAC over task id, variant and expiry: a link opens exactly
one image of one task until it expires, and the task's own expiry ends it too.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

VARIANTS = ("result", "preview")
# ASCII only: str.isdigit() accepts superscripts, and int() refuses huge numbers.
_EXPIRES = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"[0-9a-f]{32}", re.ASCII)


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
            variant not in VARIANTS
            or not _EXPIRES.fullmatch(expires)
            or not _SIGNATURE.fullmatch(sig)
        ):
            return LinkState.FORGED
        expected = self.signature(task_id, variant, int(expires))
        if not hmac.compare_digest(expected, sig):
            return LinkState.FORGED
        return LinkState.EXPIRED if int(expires) < time.time() else LinkState.VALID
