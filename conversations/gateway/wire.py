"""The gateway's wire shapes: the API's error body, the envelope, and the responses that carry them.

Error messages are English, like the API's own: they are read by programs and by developers
in their logs, whatever language a member's browser speaks (decision 67).
"""

import json

from django.http import HttpResponse

JSON = "application/json"


class GatewayError(Exception):
    """A refusal in the API's terms: an HTTP status, an error type, a message, extra headers."""

    def __init__(
        self, status: int, error_type: str, message: str, headers: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message
        self.headers = headers or {}
        self.key = None  # the key of the request, once known: its envelope applies


def invalid(message: str) -> GatewayError:
    return GatewayError(400, "invalid_request_error", message)


def rate_limited(message: str, retry_after: int | None) -> GatewayError:
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return GatewayError(429, "rate_limit_error", message, headers)


def error_body(error_type: str, message: str) -> bytes:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return json.dumps(body, separators=(",", ":")).encode()


def enveloped(status: int, body: bytes) -> bytes:
    """`{"code":STATUS,"data":BODY}` around a JSON body, its bytes untouched (DESIGN.md)."""
    return b'{"code":%d,"data":%b}' % (status, body)


def json_response(
    status: int, body: bytes, *, envelope: bool = False, headers: dict | None = None
) -> HttpResponse:
    """A JSON reply with the API's status, wrapped in the envelope when the key asks."""
    response = HttpResponse(
        enveloped(status, body) if envelope else body, status=status, content_type=JSON
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(error: GatewayError, *, envelope: bool = False) -> HttpResponse:
    return json_response(
        error.status,
        error_body(error.error_type, error.message),
        envelope=envelope,
        headers=error.headers,
    )
