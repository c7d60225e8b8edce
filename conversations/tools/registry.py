"""The tool registry: tools by name from providers (built-in now; MCP servers could add one).

A tool has a name, a description, a JSON schema for its input and a call, sync or async. A
provider lists tools; the registry asks its providers in order, so a later provider (an MCP
server an admin configures) only needs to implement `ToolProvider`. Calls never raise into the
loop: `run` turns a tool's exception into an `is_error` result the model reads (decision 79).
"""

import inspect
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from channels.db import database_sync_to_async

log = logging.getLogger(__name__)

MAX_RESULT_CHARS = 20_000  # a tool's answer is sent upstream on every later round


@dataclass(frozen=True)
class ToolContext:
    """Who the tool works for: a tool sees only this member's data."""

    user_id: int
    time_zone: str
    time_zone_source: str  # "browser" or "server" (no per-member setting exists yet)


class Tool(Protocol):
    name: str
    description: str
    input_schema: dict

    def call(self, arguments: dict, context: ToolContext) -> Any: ...


class ToolProvider(Protocol):
    def tools(self) -> list[Tool]: ...


class ToolInputError(ValueError):
    """The model sent input the tool cannot use: the message goes back to it as is_error."""


class BuiltinProvider:
    """The tools shipped with chatsite, one module each."""

    def tools(self) -> list[Tool]:
        from . import calculator, clock, search

        return [clock.TOOL, calculator.TOOL, search.TOOL]


_providers: list[ToolProvider] = [BuiltinProvider()]


def add_provider(provider: ToolProvider) -> None:
    """Add a source of tools after the built-in ones (an MCP server's, later; tests' now)."""
    _providers.append(provider)


def remove_provider(provider: ToolProvider) -> None:
    _providers.remove(provider)


def all_tools() -> dict[str, Tool]:
    found: dict[str, Tool] = {}
    for provider in _providers:
        for tool in provider.tools():
            found.setdefault(tool.name, tool)  # the first provider keeps a name
    return found


def names() -> list[str]:
    return list(all_tools())


def get(name: str) -> Tool | None:
    return all_tools().get(name)


def choices() -> list[dict]:
    """The tools the settings panel offers: name, and a label in the member's language (a
    tool without one, an MCP server's say, shows its name)."""
    return [{"name": n, "label": str(getattr(t, "label", n))} for n, t in all_tools().items()]


def definitions(chosen: list[str]) -> list[dict]:
    """The request's `tools`: the chosen tools that exist, in registry order."""
    tools = all_tools()
    return [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema}
        for name, t in tools.items()
        if name in chosen
    ]


def _as_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:MAX_RESULT_CHARS]


async def run(use: dict, context: ToolContext) -> dict:
    """The `tool_result` block answering one `tool_use` block; a failing tool gives is_error."""
    result = {"type": "tool_result", "tool_use_id": use.get("id", "")}
    tool = get(str(use.get("name", "")))
    arguments = use.get("input") if isinstance(use.get("input"), dict) else {}
    try:
        if tool is None:
            raise ToolInputError(f"No tool named {use.get('name')!r} is available.")
        if inspect.iscoroutinefunction(tool.call):
            value = await tool.call(arguments, context)
        else:
            # Sync tools may read the database or compute: off the event loop, and off the
            # database thread the replies share (a slow tool must not hold their writes).
            call = database_sync_to_async(tool.call, thread_sensitive=False)
            value = await call(arguments, context)
        return result | {"content": _as_text(value)}
    except Exception as exc:
        if not isinstance(exc, ToolInputError):
            log.warning("tool %s failed", use.get("name"), exc_info=True)
        return result | {"content": _as_text(f"{type(exc).__name__}: {exc}"), "is_error": True}
