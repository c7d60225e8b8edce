"""Typed upstream errors: HTTP statuses, API error bodies and transport failures as one class."""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from enum import StrEnum
from time import time

import httpx


class ErrorKind(StrEnum):
    AUTH = "auth"
    PERMISSION = "permission"
    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    REQUEST_TOO_LARGE = "request_too_large"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    INCOMPLETE = "incomplete"
    API = "api"


_KIND_BY_TYPE = {
    "authentication_error": ErrorKind.AUTH,
    "permission_error": ErrorKind.PERMISSION,
    "invalid_request_error": ErrorKind.INVALID_REQUEST,
    "not_found_error": ErrorKind.NOT_FOUND,
    "request_too_large": ErrorKind.REQUEST_TOO_LARGE,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "api_error": ErrorKind.SERVER,
    "overloaded_error": ErrorKind.OVERLOADED,
    "timeout_error": ErrorKind.TIMEOUT,
}

_KIND_BY_STATUS = {
    400: ErrorKind.INVALID_REQUEST,
    401: ErrorKind.AUTH,
    403: ErrorKind.PERMISSION,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    413: ErrorKind.REQUEST_TOO_LARGE,
    429: ErrorKind.RATE_LIMITED,
    529: ErrorKind.OVERLOADED,
}

_USER_MESSAGES = {
    ErrorKind.AUTH: "The model provider rejected the site's API key; tell an administrator.",
    ErrorKind.PERMISSION: "The API key is not allowed to use this model or feature.",
    ErrorKind.INVALID_REQUEST: "The model provider rejected the request as invalid.",
    ErrorKind.NOT_FOUND: "The model provider could not find the requested model or endpoint.",
    ErrorKind.REQUEST_TOO_LARGE: "The request is too large for the model provider; shorten it.",
    ErrorKind.RATE_LIMITED: "The model provider's rate limit was reached; try again shortly.",
    ErrorKind.OVERLOADED: "The model provider is overloaded; try again in a moment.",
    ErrorKind.SERVER: "The model provider had an internal error; try again in a moment.",
    ErrorKind.TIMEOUT: "The model provider took too long to respond; try again.",
    ErrorKind.CONNECTION: "Could not reach the model provider; try again in a moment.",
    ErrorKind.INCOMPLETE: "The reply was cut off before it finished; try again.",
    ErrorKind.API: "The model provider returned an unexpected response.",
}

_LOST_MID_STREAM = "The connection to the model provider was lost mid-reply; try again."

# Kinds worth repeating when no HTTP status says otherwise (connection drops, SSE error events).
_TRANSIENT_KINDS = frozenset(
    {ErrorKind.CONNECTION, ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED, ErrorKind.SERVER}
)
_MAX_DETAIL = 300


class AnthropicError(Exception):
    """An upstream failure whose `message` is safe to show a user (the API key is scrubbed)."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id
        self.should_retry = should_retry

    @property
    def retryable(self) -> bool:
        """Whether repeating the same request may succeed (the client does so before output)."""
        if self.should_retry is not None:
            return self.should_retry
        if self.status is not None:
            return self.status in (408, 409, 429) or self.status >= 500
        return self.kind in _TRANSIENT_KINDS

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"AnthropicError(kind={self.kind.value!r}, status={self.status!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


def scrub(text: str, secret: str) -> str:
    """Replace every occurrence of `secret` in `text` with "[redacted]"."""
    return text.replace(secret, "[redacted]") if secret else text


def kind_for(error_type: str | None, status: int | None) -> ErrorKind:
    """The error kind for an API error `type`, falling back to the HTTP status."""
    if error_type in _KIND_BY_TYPE:
        return _KIND_BY_TYPE[error_type]
    if status in _KIND_BY_STATUS:
        return _KIND_BY_STATUS[status]
    if status is not None and status >= 500:
        return ErrorKind.SERVER
    return ErrorKind.API


def make_error(
    kind: ErrorKind,
    detail: str | None = None,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    secret: str = "",
) -> AnthropicError:
    """Build an error whose message is the user-facing text plus the provider's own detail."""
    message = _USER_MESSAGES[kind]
    if detail:
        detail = " ".join(str(detail).split())[:_MAX_DETAIL]
        message = f"{message} ({detail})"
    headers = headers or {}
    return AnthropicError(
        kind,
        scrub(message, secret),
        status=status,
        retry_after=_retry_after(headers),
        request_id=headers.get("request-id") or request_id,
        should_retry=_should_retry(headers),
    )


def envelope_status(payload: object) -> int | None:
    """The `code` of a gateway envelope `{"code": ..., "data": ...}`, or None if not one."""
    if not isinstance(payload, dict) or "code" not in payload or "type" in payload:
        return None
    try:
        return int(payload["code"])
    except (TypeError, ValueError):
        return None


def error_from_payload(
    payload: object,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    secret: str = "",
) -> AnthropicError | None:
    """The error a JSON body describes (API error body or failed envelope), else None."""
    if not isinstance(payload, dict):
        return None
    code = envelope_status(payload)
    if code is not None:
        if code == 200:
            return None
        inner = payload.get("data")
        api_error = _api_error(inner) if isinstance(inner, dict) else {}
        detail = payload.get("msg") or payload.get("message") or api_error.get("message")
        return make_error(
            kind_for(api_error.get("type"), code),
            _text(detail),
            status=code,
            headers=headers,
            request_id=_text(payload.get("request_id")),
            secret=secret,
        )
    if payload.get("type") != "error":
        return None
    api_error = _api_error(payload)
    return make_error(
        kind_for(api_error.get("type"), status),
        _text(api_error.get("message")),
        status=status,
        headers=headers,
        request_id=_text(payload.get("request_id")),
        secret=secret,
    )


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes | str, *, secret: str = ""
) -> AnthropicError:
    """The error for a non-2xx HTTP response, using its JSON body when it has one."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    error = error_from_payload(payload, status=status, headers=headers, secret=secret)
    if error is not None:
        error.status = status
        return error
    detail = payload.get("message") if isinstance(payload, dict) else None
    return make_error(
        kind_for(None, status), _text(detail), status=status, headers=headers, secret=secret
    )


def error_from_transport(
    exc: httpx.HTTPError, *, mid_stream: bool = False, secret: str = ""
) -> AnthropicError:
    """The error for an httpx failure; connect failures are CONNECTION, read stalls TIMEOUT."""
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
        return make_error(ErrorKind.CONNECTION, name, secret=secret)
    if isinstance(exc, httpx.TimeoutException):
        return make_error(ErrorKind.TIMEOUT, name, secret=secret)
    if mid_stream:
        return AnthropicError(ErrorKind.CONNECTION, f"{_LOST_MID_STREAM} ({name})")
    return make_error(ErrorKind.CONNECTION, name, secret=secret)


def _api_error(payload: dict) -> dict:
    error = payload.get("error")
    return error if isinstance(error, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _should_retry(headers: Mapping[str, str]) -> bool | None:
    value = (headers.get("x-should-retry") or "").strip().lower()
    return {"true": True, "false": False}.get(value)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time(), 0.0)
    except (TypeError, ValueError):
        return None
