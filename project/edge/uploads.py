"""File uploads over GraphQL over HTTP: the GraphQL multipart request spec
(github.com/jaydenseric/graphql-multipart-request-spec), read through Strawberry's
`Upload` scalar into the `XFile` fields of task inputs.

- **CSRF.** A browser sends `multipart/form-data` cross-origin without a preflight, so
  a page on another site could submit tasks with the visitor's cookies or network
  position. A multipart request must therefore carry a header that no simple request
  can: `Authorization`, `GraphQL-Require-Preflight` or `Apollo-Require-Preflight`
  (apollo-upload-client sends the latter), or Apollo's `X-Apollo-Operation-Name`;
  otherwise it is refused with 400 and `CSRF_PREFLIGHT_REQUIRED`, as Apollo Server does.
- **Limits.** The whole body is held to `ATELIER_MAX_BODY_BYTES` in front of the
  consumer (`project.edge.bodylimit`); each file to an inline image's byte and pixel
  limits where it is read (`graph.validation.checked_upload`). Django's parser keeps a
  file part in memory up to `FILE_UPLOAD_MAX_MEMORY_SIZE` and spools a larger one to a
  temporary file, deleted with the request.
- **One parse.** Twisted's HTTP request parses every `multipart/form-data` POST into
  its `args` (which daphne never reads) and answers a bare 400 with no body when that
  fails; daphne's requests are built without it (`unparsed_form_request`), so a body is
  parsed once, here, and a malformed one gets our answer.
- **Malformed bodies** (no boundary, a `map` that is not an object of lists of paths,
  a path to no variable, a file part the map names but the body lacks) answer 400 with
  what is wrong, never 500; Strawberry's own parser let several of them through.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from io import BytesIO
from typing import Any

from cross_web import FormData, HTTPException
from daphne.http_protocol import WebRequest
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files import uploadhandler
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from strawberry.channels.handlers.http_handler import ChannelsRequestAdapter
from strawberry.file_uploads.utils import replace_placeholders_with_files

from graph.errors import ApiError
from project.edge.refusals import Scope, header

MULTIPART = "multipart/form-data"
# Headers a browser sends cross-origin only after a preflight the origin allowed.
PREFLIGHT_HEADERS = (
    b"authorization",
    b"graphql-require-preflight",
    b"apollo-require-preflight",
    b"x-apollo-operation-name",
)

unparsed_form_request = functools.partial(WebRequest, parsePOSTFormSubmission=False)


class PreflightRequired(ApiError):
    code = "CSRF_PREFLIGHT_REQUIRED"

    def __init__(self) -> None:
        super().__init__(
            "a multipart request must carry an Authorization, GraphQL-Require-Preflight "
            "or Apollo-Require-Preflight header (CSRF protection)"
        )


def is_multipart(scope: Scope) -> bool:
    content_type = header(scope, b"content-type") or ""
    return content_type.split(";", 1)[0].strip().lower() == MULTIPART


def preflighted(scope: Scope) -> bool:
    """Whether the request carries a header only a preflighted browser request can."""
    return any(header(scope, name) for name in PREFLIGHT_HEADERS)


class UploadRequestAdapter(ChannelsRequestAdapter):
    """Strawberry's request adapter, parsing multipart bodies off the event loop (files
    may be spooled to disk) and by the body's real length (a chunked request has no
    Content-Length, which Strawberry's parser reads as an empty body)."""

    async def get_form_data(self) -> FormData:
        return await asyncio.to_thread(self._parse_form, self.request.body)

    def _parse_form(self, body: bytes) -> FormData:
        handlers = [uploadhandler.load_handler(path) for path in settings.FILE_UPLOAD_HANDLERS]
        meta = {"CONTENT_TYPE": self.content_type or "", "CONTENT_LENGTH": str(len(body))}
        try:
            fields, files = MultiPartParser(meta, BytesIO(body), handlers).parse()
        except RequestDataTooBig:
            raise HTTPException(413, "the multipart request's fields are too large") from None
        except (MultiPartParserError, SuspiciousOperation, ValueError) as error:
            raise HTTPException(400, f"the multipart body does not parse: {error}") from None
        form = {"operations": fields.get("operations", "{}"), "map": fields.get("map", "{}")}
        return FormData(files=files, form=form)


def operations_with_files(operations: Any, files_map: Any, files: Mapping[str, Any]) -> Any:
    """The `operations` field with each file part put where `map` says (the spec's
    placement), or HTTPException 400 naming what does not fit."""
    if not isinstance(files_map, dict) or not all(
        isinstance(paths, list) and all(isinstance(path, str) for path in paths)
        for paths in files_map.values()
    ):
        raise HTTPException(
            400, 'the "map" field must be a JSON object of file part names to lists of paths'
        )
    missing = sorted(name for name in files_map if name not in files)
    if missing:
        raise HTTPException(400, f'"map" names file parts the request lacks: {missing}')
    try:
        return replace_placeholders_with_files(operations, files_map, files)
    except (KeyError, IndexError, TypeError, ValueError):
        raise HTTPException(400, '"map" holds a path that names no value in "operations"') from None
