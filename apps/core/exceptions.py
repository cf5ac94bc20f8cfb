"""One error type for services, one JSON shape for every API error.

Every answer under ``/api/`` that is an error looks like::

    {"error": {"code": "invalid_threshold", "message": "A sentence a person understands.",
               "fields": {...optional per-field messages...}}}

whatever raised it: a service (``ApplicationError``), DRF (authentication, permissions,
throttling, parsing: its own codes, ``not_authenticated``, ``throttled``...), Django itself
outside any API view (an unknown path: ``not_found``; a refused CSRF check:
``csrf_failed``; a crash: ``server_error``; a bad request: ``bad_request``).

Codes are snake_case and stable. A value the caller got wrong is ``invalid_<field>``, the
same code whether the serializer or the service caught it (``validated``), with ``fields``
naming the field: ``{"fields": {"threshold": ["..."]}}``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """Raised by services and selectors for anything the caller got wrong.

    ``status_code`` is the HTTP status the API answers with (400 unless said otherwise).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        status_code: int = status.HTTP_400_BAD_REQUEST,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code
        self.extra = extra or {}


def validated(serializer: Any) -> Any:
    """``serializer.validated_data``, or ``ApplicationError`` with the code
    ``invalid_<field>`` of the first field that is wrong (``invalid`` when no one field is)
    and every field's messages in ``fields``: the code a service raises for the same field."""
    if serializer.is_valid():
        return serializer.validated_data
    errors = serializer.errors
    field = next(iter(errors), "non_field_errors")
    code = "invalid" if field in ("non_field_errors", "detail") else f"invalid_{field}"
    fields = {name: _plain(messages) for name, messages in errors.items()}
    raise ApplicationError(_first_message(errors), code=code, extra={"fields": fields})


def _plain(detail: Any) -> Any:
    """DRF's error detail as plain JSON, nesting kept (a list item's errors are a dict by
    index, as the exception handler answers them): ``{"0": ["..."]}``, not its keys."""
    if isinstance(detail, dict):
        return {str(key): _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(value) for value in detail]
    return str(detail)


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        message = _first_message(value)
        return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    return str(detail)


def error_response(message: str, *, code: str, status_code: int, **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response({"error": body}, status=status_code)


def _is_broker_error(exc: Exception) -> bool:
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError

    return isinstance(exc, OperationalError | RedisConnectionError)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return error_response(exc.message, code=exc.code, status_code=exc.status_code, **exc.extra)
    if _is_broker_error(exc):
        # The job queue (Redis) is down: say so instead of answering a bare 500.
        return error_response(
            "The background job queue is not reachable right now, so this job could not be "
            "started. Nothing was lost; please try again in a minute.",
            code="queue_unavailable",
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(exc, exceptions.ValidationError):
        fields = detail if isinstance(detail, dict) else None
        message = _first_message(detail)
    else:
        fields = None
        message = str(detail.get("detail", detail)) if isinstance(detail, dict) else str(detail)
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        if isinstance(codes, str):
            code = codes
    new = error_response(message, code=code, status_code=response.status_code, fields=fields)
    for header, value in response.items():
        new[header] = value
    return new


# --- Outside the API views: Django's own error pages, JSON under /api/ -----------------------


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _json_error(message: str, *, code: str, status_code: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status_code)


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """An unknown path under /api/, whatever the method (no CSRF check: nothing is done)."""
    return _json_error(
        f"There is no API endpoint at {request.path}.", code="not_found", status_code=404
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        return _json_error(
            "The CSRF check failed: send the X-CSRFToken header with the csrftoken cookie's "
            "value, or authenticate with a token instead of the session.",
            code="csrf_failed",
            status_code=403,
        )
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason=reason)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _json_error("The request is not valid.", code="bad_request", status_code=400)
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return _json_error(
            "You do not have permission to do this.", code="permission_denied", status_code=403
        )
    return defaults.permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return _json_error(
            "Something went wrong on the server; it has been logged. Please try again, and "
            "report it if it keeps happening.",
            code="server_error",
            status_code=500,
        )
    return defaults.server_error(request)
