"""What the demo and ops pages share, at `/pagekit/<name>`: `livefeed.js`, one GraphQL
subscription over graphql-transport-ws that reconnects, and `request.js`, one GraphQL
request over HTTP. A module the pages import by
an unversioned path, so it is revalidated on each load (ETag) and a deploy shows at once.
"""

from __future__ import annotations

from pathlib import Path

from project.staticpage import StaticPage

FOLDER = Path(__file__).resolve().parent / "pagekit"
ASSETS = StaticPage(FOLDER, route=None, prefix="pagekit", names=("livefeed.js", "request.js"))

urlpatterns = ASSETS.urlpatterns()
