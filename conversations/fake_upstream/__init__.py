"""A loopback HTTP/1.1 server that speaks the Anthropic Messages API, with scripted replies.

`script` decides a reply from the `!directives` of the request, `server` speaks HTTP and SSE,
`cache` measures prompt-cache reads and writes from the request's breakpoints (`!cache=W,R`
scripts them instead), `command` runs it in the foreground
(`python -m conversations.fake_upstream`).
"""

from .script import DEMO_MODEL, count_input_tokens
from .server import FakeUpstream

__all__ = ["DEMO_MODEL", "FakeUpstream", "count_input_tokens"]
