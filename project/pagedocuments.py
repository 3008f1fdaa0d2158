"""The GraphQL documents of the pages this web node serves (the demo page, the ops page).

Each page holds every operation it sends in one document, in
`<script type="application/graphql" id="graphql">`, and names the operation with each
request. A node that runs only trusted documents (`ATELIER_TRUSTED_DOCUMENTS`) trusts
these too: they are the server's own, shipped with it, and read here from the very
files it serves, so they cannot drift from what the pages send.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

# project.demo and project.ops serve these files (they import services, which imports
# this: so the paths, not their modules).
HERE = Path(__file__).resolve().parent
PAGES = (HERE / "demo" / "index.html", HERE / "ops" / "index.html")
# The page's script reads the element's textContent: the raw text between the tags.
_DOCUMENT = re.compile(r'<script type="application/graphql" id="graphql">(.*?)</script>', re.S)


def document_of(page: Path) -> str:
    found = _DOCUMENT.search(page.read_text(encoding="utf-8"))
    if found is None:
        raise ValueError(f'{page} holds no <script type="application/graphql" id="graphql">')
    return found.group(1)


def page_documents() -> dict[str, str]:
    """Each page's document under its SHA-256, as a trusted-documents map holds it."""
    texts = [document_of(page) for page in PAGES]
    return {hashlib.sha256(text.encode()).hexdigest(): text for text in texts}
