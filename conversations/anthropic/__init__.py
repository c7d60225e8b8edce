"""Django-free Anthropic Messages API client: typed stream events, errors and retries."""

from .client import AnthropicClient, ClientConfig
from .errors import AnthropicError, ErrorKind
from .events import (
    BlockDelta,
    BlockStart,
    BlockStop,
    Event,
    EventDecoder,
    MessageAccumulator,
    MessageDelta,
    MessageStart,
    MessageStop,
    Usage,
)

__all__ = [
    "AnthropicClient",
    "AnthropicError",
    "BlockDelta",
    "BlockStart",
    "BlockStop",
    "ClientConfig",
    "ErrorKind",
    "Event",
    "EventDecoder",
    "MessageAccumulator",
    "MessageDelta",
    "MessageStart",
    "MessageStop",
    "Usage",
]
