"""The operators' page at `/ops`: one HTML page, a script and a stylesheet from
`project/ops/`, served as the demo page is (`project.staticpage`: versioned assets, the same
strict Content-Security-Policy).

The page holds no secret and no data: it asks for an admin key, keeps it in the
tab's sessionStorage, and reads everything over the public API
(`operationsUpdates` over graphql-transport-ws, `cancelAnyTask` over HTTP), so the
API's own checks decide what it may see and do.
"""

from __future__ import annotations

from pathlib import Path

from project.staticpage import StaticPage

FOLDER = Path(__file__).resolve().parent / "ops"
PAGE = StaticPage(FOLDER, route="ops", prefix="ops", names=("ops.js", "ops.css"))

urlpatterns = PAGE.urlpatterns()
