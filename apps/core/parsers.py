"""A JSON parser with a size limit.

DRF's own JSON parser reads the whole body into memory, whatever its size (Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` only guards ``request.body`` and forms). This one refuses a
body over its limit with a 413, from the declared ``Content-Length`` before reading
anything, and otherwise never reads more than one byte past the limit.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers, status


class BodyTooLarge(exceptions.APIException):
    # A DRF exception, not ApplicationError: DRF imports this module while apps.core.exceptions
    # is still importing DRF. The API's exception handler gives both the same shape.
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def body_too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"The request body is larger than the {limit / (1024 * 1024):.1f} MB limit.",
        code="too_large",
    )


class JSONParser(parsers.JSONParser):
    """JSON bodies of at most ``max_bytes()`` (``API_MAX_JSON_BYTES``) bytes."""

    def max_bytes(self) -> int:
        return int(settings.API_MAX_JSON_BYTES)

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = self.max_bytes()
        request = (parser_context or {}).get("request")
        declared = str(request.META.get("CONTENT_LENGTH") or "") if request is not None else ""
        if declared.isdigit() and int(declared) > limit:
            raise body_too_large(limit)
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise body_too_large(limit)
        return super().parse(io.BytesIO(data), media_type, parser_context)
