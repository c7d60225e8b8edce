"""The gateway's endpoints: async views that check, admit, forward and settle (DESIGN.md contract).

Replies are forwarded as the upstream sent them: a stream chunk by chunk, unbuffered and never
re-serialised, its bytes read on the side by `StreamMeter` for the ledger; a non-streaming reply
whole, in the envelope when the key asks for it.
"""

import asyncio
import json
import logging
from contextlib import AsyncExitStack

import httpx
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.models import ApiKey

from ..anthropic import AnthropicError
from ..upstream import get_client
from . import metering
from .bodies import betas, check_version, parse
from .sse_meter import StreamMeter, message_usage
from .wire import (
    GatewayError,
    enveloped,
    error_body,
    error_response,
    json_response,
)

log = logging.getLogger(__name__)
# Upstream headers a client may act on (backing off, quoting a request id), passed along.
PASSED_HEADERS = ("retry-after", "retry-after-ms", "x-should-retry", "request-id")
LOST_EVENT = b"event: error\ndata: %b\n\n"
LOST_MESSAGE = "The connection to the model provider was lost mid-reply."


def _raw_key(request: HttpRequest) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _read_body(request: HttpRequest) -> bytes:
    """The body, within the API's 32 MB (GATEWAY_MAX_REQUEST_BYTES) instead of the site's
    DATA_UPLOAD_MAX_MEMORY_SIZE, which holds for forms: `read()` does not apply it."""
    limit = settings.GATEWAY_MAX_REQUEST_BYTES
    too_large = GatewayError(
        413, "request_too_large", "Request exceeds the maximum allowed number of bytes."
    )
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise too_large
    return raw


async def _key(request: HttpRequest) -> ApiKey:
    key = await metering.run_db(metering.authenticate, _raw_key(request))
    request.user = key.user  # the access log names the member
    return key


def _wrong_method(request: HttpRequest, allowed: str) -> HttpResponse | None:
    if request.method == allowed:
        return None
    body = error_body("invalid_request_error", f"{request.method} is not allowed here")
    return json_response(405, body, headers={"allow": allowed})


@csrf_exempt
async def messages(request: HttpRequest) -> HttpResponse:
    return _wrong_method(request, "POST") or await _handle(request, counting=False)


@csrf_exempt
async def count_tokens(request: HttpRequest) -> HttpResponse:
    return _wrong_method(request, "POST") or await _handle(request, counting=True)


async def models(request: HttpRequest, model_id: str | None = None) -> HttpResponse:
    if wrong := _wrong_method(request, "GET"):
        return wrong
    envelope = False
    try:
        key = await _key(request)
        envelope = key.envelope
        check_version(request.headers.get("anthropic-version"))
        data = await metering.run_db(metering.model_list, key.user)
        if model_id is not None:
            found = [m for m in data if m["id"] == model_id]
            if not found:
                raise GatewayError(404, "not_found_error", f"model: {model_id}")
            return json_response(200, _dumps(found[0]), envelope=envelope)
    except GatewayError as error:
        return error_response(error, envelope=envelope)
    ends = {
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
    page = {"data": data, "has_more": False, **ends}
    return json_response(200, _dumps(page), envelope=envelope)


def _dumps(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


async def _handle(request: HttpRequest, *, counting: bool) -> HttpResponse:
    checked = {}

    def check(key: ApiKey) -> dict:
        request.user = key.user  # the access log names the member
        checked["version"] = check_version(request.headers.get("anthropic-version"))
        checked["beta"] = betas(request.headers.get("anthropic-beta"))
        return parse(_read_body(request))

    try:
        key, admitted = await metering.run_db(
            metering.authenticate_and_admit, _raw_key(request), check, counting=counting
        )
    except GatewayError as error:
        return error_response(error, envelope=bool(error.key and error.key.envelope))
    envelope, version, beta = key.envelope, checked["version"], checked["beta"]
    headers = {"content-type": "application/json", "anthropic-version": version}
    if beta:
        headers["anthropic-beta"] = ",".join(beta)
    if counting:
        return await _forward_whole(admitted, headers, envelope, "/v1/messages/count_tokens")
    if admitted.stream:
        # identity: the bytes are forwarded as they are, so they must not be compressed.
        stream_headers = {"accept": "text/event-stream", "accept-encoding": "identity"}
        return await _forward_stream(admitted, headers | stream_headers, envelope)
    return await _forward_whole(admitted, headers, envelope, "/v1/messages")


def _lowered(admitted: metering.Admitted) -> dict:
    """Tells the client that its quota lowered max_tokens (docs/api.md)."""
    if admitted.max_tokens is not None and admitted.max_tokens < admitted.requested_max_tokens:
        return {"chatsite-max-tokens": str(admitted.max_tokens)}
    return {}


def _scrubbed(data: bytes) -> bytes:
    secret = settings.ANTHROPIC_API_KEY
    return data.replace(secret.encode(), b"[redacted]") if secret else data


def _upstream_error(status: int, payload: bytes, upstream_headers, envelope: bool) -> HttpResponse:
    """An upstream refusal as the API reported it, except that the server's key being refused
    is the server's fault, not the member's (a 401 would tell them their key is wrong)."""
    headers = {n: upstream_headers[n] for n in PASSED_HEADERS if n in upstream_headers}
    if status == 401:
        body = error_body("api_error", "The gateway's upstream credentials were refused.")
        return json_response(500, body, envelope=envelope, headers=headers)
    try:
        json.loads(payload)
    except ValueError:
        payload = error_body("api_error", f"The model provider answered {status}.")
    return json_response(status, _scrubbed(payload), envelope=envelope, headers=headers)


def _transport_error(exc: AnthropicError, envelope: bool) -> HttpResponse:
    kind = "timeout_error" if exc.kind == "timeout" else "api_error"
    status = 504 if kind == "timeout_error" else 502
    return json_response(status, error_body(kind, exc.message), envelope=envelope)


async def _forward_whole(
    admitted: metering.Admitted, headers: dict, envelope: bool, path: str
) -> HttpResponse:
    """A non-streaming call (a message, or a count): the reply whole, then the charge."""
    usage, chars, complete, status = {}, 0, False, "failed"
    counting = path.endswith("count_tokens")
    reached = False  # the model may have worked on it: never free, estimated at worst
    try:
        async with get_client().raw("POST", path, content=admitted.body, headers=headers) as up:
            reached = True
            payload = await up.aread()
            reached = up.status_code == 200
        if up.status_code != 200:
            return _upstream_error(up.status_code, payload, up.headers, envelope)
        if not counting:
            usage, chars, complete = message_usage(payload)
        status = "complete"
        return _reply(payload, envelope, _lowered(admitted))
    except AnthropicError as exc:
        return _transport_error(exc, envelope)
    except httpx.HTTPError:
        return json_response(502, error_body("api_error", LOST_MESSAGE), envelope=envelope)
    finally:
        if reached and not counting and not usage:
            usage = {"input_tokens": admitted.input_estimate}
        # A count costs nothing: settled as a call that used no tokens.
        await metering.settle_async(
            admitted.call_id, usage, chars, complete=complete, status=status
        )


def _reply(payload: bytes, envelope: bool, headers: dict) -> HttpResponse:
    """The upstream's reply as it came, or unwrapped from / wrapped in the envelope."""
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = None
    upstream_wrapped = isinstance(parsed, dict) and "code" in parsed and "type" not in parsed
    if upstream_wrapped and not envelope:
        payload = _dumps(parsed.get("data"))
    elif envelope and not upstream_wrapped:
        payload = enveloped(200, payload)
    response = HttpResponse(payload, status=200, content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    return response


async def _forward_stream(
    admitted: metering.Admitted, headers: dict, envelope: bool
) -> HttpResponse:
    """A stream, passed through as it comes; an error before it starts is a whole reply (in
    the envelope when the key asks: only the stream itself is never wrapped)."""
    stack = AsyncExitStack()
    try:
        up = await stack.enter_async_context(
            get_client().raw("POST", "/v1/messages", content=admitted.body, headers=headers)
        )
        streaming = up.status_code == 200 and "text/event-stream" in up.headers.get(
            "content-type", ""
        )
        if not streaming:
            payload = await up.aread()
            await stack.aclose()
            await metering.settle_async(admitted.call_id, {}, 0, complete=False, status="failed")
            status = up.status_code if up.status_code != 200 else 502
            return _upstream_error(status, payload, up.headers, envelope)
    except AnthropicError as exc:
        await stack.aclose()
        await metering.settle_async(admitted.call_id, {}, 0, complete=False, status="failed")
        return _transport_error(exc, envelope)
    except BaseException:
        await stack.aclose()
        estimate = {"input_tokens": admitted.input_estimate}
        await metering.settle_async(admitted.call_id, estimate, 0, complete=False, status="stopped")
        raise
    meter = StreamMeter()

    async def abandon() -> None:  # the response never started: end and charge it here
        await stack.aclose()
        estimate = {"input_tokens": admitted.input_estimate}
        await metering.settle_async(admitted.call_id, estimate, 0, complete=False, status="stopped")

    metering.in_flight().add(admitted.call_id, meter, abandon)
    response = StreamingHttpResponse(
        _relay(admitted, up, stack, meter), content_type=up.headers["content-type"]
    )
    response["cache-control"] = "no-cache"
    response["x-accel-buffering"] = "no"  # nginx: pass each event on at once
    for name, value in (_lowered(admitted) | _passed(up.headers)).items():
        response[name] = value
    return response


def _passed(upstream_headers) -> dict:
    return {n: upstream_headers[n] for n in ("request-id",) if n in upstream_headers}


async def _relay(admitted: metering.Admitted, up: httpx.Response, stack: AsyncExitStack, meter):
    """Each upstream chunk to the client as it arrives, metered on the side; the charge when it
    ends, however it ends (complete, an error event, a drop, the client leaving)."""
    status = "failed"
    metering.in_flight().started(admitted.call_id)
    try:
        async for chunk in up.aiter_raw():
            meter.feed(chunk)
            yield chunk
        meter.close()
        status = "complete" if meter.complete else "failed"
    except httpx.HTTPError:
        meter.close()
        if not meter.complete:
            # What the API sends when it fails mid-reply: an error event, then the end.
            yield LOST_EVENT % error_body("api_error", LOST_MESSAGE)
        status = "complete" if meter.complete else "failed"
    except (asyncio.CancelledError, GeneratorExit):
        status = "stopped"  # the client went away: the upstream call ends with it
        raise
    finally:
        metering.in_flight().discard(admitted.call_id)
        await asyncio.shield(stack.aclose())
        usage = dict(meter.usage) or {"input_tokens": admitted.input_estimate}
        error = {"code": meter.error.get("type")} if meter.error else None
        await metering.settle_async(
            admitted.call_id,
            usage,
            meter.output_chars,
            complete=meter.complete,
            status=status,
            error=error,
        )
