"""Async client for the Anthropic Messages API: pooled connection, SSE streaming, retries."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource

from .errors import (
    AnthropicError,
    ErrorKind,
    envelope_status,
    error_from_payload,
    error_from_response,
    error_from_transport,
    make_error,
)
from .events import Event, EventDecoder

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True)
class ClientConfig:
    base_url: str = "https://api.anthropic.com"
    # Kept out of repr so a logged config never shows the key.
    api_key: str = field(default="", repr=False)
    version: str = "2023-06-01"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    # Every streaming reply holds a connection for its whole length: the pools must fit a
    # team's concurrent replies, not httpx's default of 100.
    max_connections: int = 1000
    # httpcore scans every connection of its pool when a request starts and when a response
    # closes: with hundreds of streams that scan was ~10 % of the server's CPU. Requests go to
    # several pools in turn, each scanning its share (decision 101).
    pools: int = 8


class AnthropicClient:
    """One pooled httpx.AsyncClient per instance; create one per process and aclose() it."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._config = config
        self._sleep = sleep
        count = 1 if transport is not None else max(1, config.pools)  # a test's transport: one
        limits = httpx.Limits(
            max_connections=-(-config.max_connections // count),
            max_keepalive_connections=-(-100 // count),
        )
        # One TLS context for every pool: each loads the CA bundle (about 1 MB of memory).
        tls = httpx.create_ssl_context() if transport is None else True
        self._pools = [
            httpx.AsyncClient(
                base_url=config.base_url.rstrip("/"),
                timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
                limits=limits,
                transport=transport,
                verify=tls,
            )
            for _ in range(count)
        ]
        self._turn = itertools.cycle(self._pools)

    @property
    def _http(self) -> httpx.AsyncClient:
        """The next pool: each request, with its response, stays on the one it was given."""
        return next(self._turn)

    def __repr__(self) -> str:
        return f"AnthropicClient(base_url={self._config.base_url!r})"

    async def __aenter__(self) -> AnthropicClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    async def stream(self, request: dict) -> AsyncIterator[Event]:
        """Stream a message as typed events; retries only until the first event is yielded."""
        payload = {**request, "stream": True}
        attempt = 0
        while True:
            yielded = False
            try:
                async with aclosing(self._stream_once(payload)) as events:
                    async for event in events:
                        yielded = True
                        yield event
                return
            except AnthropicError as error:
                # Once text has reached the user a retry would duplicate it.
                if yielded or not self._may_retry(error, attempt):
                    raise
                await self._sleep(self._retry_delay(error, attempt))
            attempt += 1

    async def create(self, request: dict) -> dict:
        """Send a non-streaming message request and return the message body."""
        payload = {k: v for k, v in request.items() if k != "stream"}
        message = await self._with_retries(
            lambda: self._request_json("POST", "/v1/messages", payload)
        )
        if not isinstance(message, dict):
            raise make_error(ErrorKind.API, "message is not an object", secret=self._secret)
        return message

    async def list_models(self) -> list[dict]:
        """All models the key can use, following `has_more`/`after_id` pagination."""
        models: list[dict] = []
        after_id: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if after_id:
                params["after_id"] = after_id
            page = await self._with_retries(
                lambda params=params: self._request_json("GET", "/v1/models", params=params)
            )
            if isinstance(page, list):
                return models + page
            if not isinstance(page, dict):
                raise make_error(ErrorKind.API, "model list is not an object", secret=self._secret)
            data = page.get("data") or []
            models.extend(data)
            last_id = page.get("last_id") or (data[-1].get("id") if data else None)
            # A page that does not advance would loop forever.
            if not page.get("has_more") or not last_id or last_id == after_id:
                return models
            after_id = last_id

    @asynccontextmanager
    async def raw(
        self, method: str, path: str, *, content: bytes = b"", headers: Mapping[str, str] = {}
    ) -> AsyncIterator[httpx.Response]:
        """One request with the server's key, never retried, its response left unread: the
        gateway forwards the bytes as they arrive. Transport failures before a response are
        AnthropicErrors (the key scrubbed); reading the body may raise httpx errors."""
        http = self._http
        request = http.build_request(
            method, path, content=content or None, headers={**self._headers(), **headers}
        )
        try:
            response = await http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise error_from_transport(exc, secret=self._secret) from exc
        try:
            yield response
        finally:
            await response.aclose()

    @property
    def _secret(self) -> str:
        return self._config.api_key

    def _headers(self, *, stream: bool = False) -> dict[str, str]:
        headers = {
            "x-api-key": self._config.api_key,
            "anthropic-version": self._config.version,
            "content-type": "application/json",
        }
        if stream:
            headers["accept"] = "text/event-stream"
        return headers

    async def _stream_once(self, payload: dict) -> AsyncIterator[Event]:
        decoder = EventDecoder(secret=self._secret)
        seen_event = False
        try:
            async with self._http.stream(
                "POST", "/v1/messages", json=payload, headers=self._headers(stream=True)
            ) as response:
                await self._check_stream_response(response)
                async for sse in EventSource(response).aiter_sse():
                    event = decoder.decode(sse.data, sse.event)
                    if event is not None:
                        seen_event = True
                        yield event
        except httpx.HTTPError as exc:
            # A drop after message_stop loses nothing.
            if decoder.complete:
                return
            raise error_from_transport(exc, mid_stream=seen_event, secret=self._secret) from exc
        if not decoder.complete:
            raise make_error(ErrorKind.INCOMPLETE, secret=self._secret)

    async def _check_stream_response(self, response: httpx.Response) -> None:
        """Raise unless the response is an event stream (errors may come as JSON, even on 200)."""
        if not response.is_success:
            await response.aread()
            raise error_from_response(
                response.status_code, response.headers, response.content, secret=self._secret
            )
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" in content_type:
            return
        await response.aread()
        payload = _json_or_none(response)
        error = error_from_payload(
            payload, status=None, headers=response.headers, secret=self._secret
        )
        if error is not None:
            raise error
        raise make_error(ErrorKind.API, "expected an event stream", secret=self._secret)

    async def _request_json(
        self, method: str, path: str, json_body: dict | None = None, *, params: dict | None = None
    ) -> object:
        try:
            response = await self._http.request(
                method, path, json=json_body, params=params, headers=self._headers()
            )
        except httpx.HTTPError as exc:
            raise error_from_transport(exc, secret=self._secret) from exc
        if not response.is_success:
            raise error_from_response(
                response.status_code, response.headers, response.content, secret=self._secret
            )
        payload = _json_or_none(response)
        if payload is None:
            raise make_error(ErrorKind.API, "response is not JSON", secret=self._secret)
        error = error_from_payload(payload, headers=response.headers, secret=self._secret)
        if error is None and envelope_status(payload) is not None:
            payload = payload["data"] if isinstance(payload, dict) else payload
            # Some gateways wrap an API error body in a successful envelope.
            error = error_from_payload(payload, headers=response.headers, secret=self._secret)
        if error is not None:
            raise error
        return payload

    async def _with_retries(self, send: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                return await send()
            except AnthropicError as error:
                if not self._may_retry(error, attempt):
                    raise
                await self._sleep(self._retry_delay(error, attempt))
            attempt += 1

    def _may_retry(self, error: AnthropicError, attempt: int) -> bool:
        return attempt < self._config.max_retries and error.retryable

    def _retry_delay(self, error: AnthropicError, attempt: int) -> float:
        """The server's retry-after when sane, else capped exponential backoff with jitter."""
        config = self._config
        if error.retry_after is not None and 0 <= error.retry_after <= config.max_retry_after:
            return error.retry_after
        backoff = min(config.initial_backoff * 2**attempt, config.max_backoff)
        # Jitter spreads out clients that failed together so they don't retry in lockstep.
        return backoff * random.uniform(0.75, 1.0)


def _json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None
