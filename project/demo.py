"""The demo page at `/`: one HTML page, a script and a stylesheet from `project/demo/`
(served as `project.staticpage` serves a page).

The page is a client of the public API like any other: GraphQL over HTTP for
`submitTask` and `cancelTask` (the chosen images, and the mask it draws, as file
parts of a GraphQL multipart request), graphql-transport-ws for `taskProgress`. It
is served from the API's own origin, so `project.edge.origins` lets it in unconfigured.
"""

from __future__ import annotations

from pathlib import Path

from project.staticpage import StaticPage

FOLDER = Path(__file__).resolve().parent / "demo"
PAGE = StaticPage(FOLDER, route="", prefix="demo", names=("demo.js", "demo.css"))

urlpatterns = PAGE.urlpatterns()
