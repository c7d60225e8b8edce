"""The "Get code" dialog's snippets: a reply's request as cURL, Python and JavaScript.

The request is the one `prompt.build_request` makes for the reply's first call (decision 83),
then changed only where the gateway differs from the upstream: the catalog's model id (the
gateway maps it, `-thinking` ids included), no `metadata` (the gateway sets `user_id`), no
`stream`. The key is never in the code: the SDKs and the cURL line read `$ANTHROPIC_API_KEY`.
"""

import copy
import json
import shlex

from django.conf import settings

from . import chat_settings, thinking
from .attachment_blocks import has_attachments, materialise
from .errors import ChatError
from .models import CatalogModel, Message
from .prompt import build_request

MESSAGES_PATH = "/v1/messages"
# The fields the Python SDK takes as arguments in every recent version; the others (sampling
# parameters, which the SDK's 2.x dropped) go in `extra_body`.
PYTHON_ARGUMENTS = frozenset(
    {"model", "max_tokens", "messages", "system", "stop_sequences", "thinking", "tools"}
    | {"tool_choice", "metadata"}
)
# base64 (or text) data longer than this is left out of the code: a dialog of megabytes of
# letters helps no one, and a reader can attach the file themselves.
ELIDE_DATA_OVER = 4096
ELIDED_DATA = "[ELIDED: {size} characters of {media_type} data; put the file's own data here]"
ELIDED_SIGNATURE = "[ELIDED: the thinking signature, which only the API can make]"


def code_request(reply: Message) -> tuple[dict, list[str]]:
    """The body a member would send to chatsite's /v1/messages for `reply`'s first call, and
    what was left out of it (empty: nothing)."""
    conversation = reply.conversation
    model_id = reply.model or conversation.model
    model = CatalogModel.objects.filter(model_id=model_id).first()
    # The first call asked from the history alone: the reply's own text is what it answered
    # (a prefill is not stored apart from it, and Continue is a later call).
    first_call = copy.copy(reply)
    first_call.content = []
    request = build_request(first_call, model)
    if model is not None:
        request["max_tokens"] = chat_settings.wanted_max_tokens(conversation.settings or {}, model)
        request["model"] = model.model_id
    try:
        thinking.fit_request(request, "invalid_settings")
    except ChatError:
        pass  # the gateway names the broken rule when the code runs, as the chat did
    request.pop("metadata", None)
    request.pop("stream", None)
    if has_attachments(request):
        request = materialise(request)
    notes: list[str] = []
    _elide(request, notes)
    return request, notes


def _elide(value: object, notes: list[str]) -> None:
    """Replace signatures and large data in place, noting each."""
    if isinstance(value, list):
        for item in value:
            _elide(item, notes)
        return
    if not isinstance(value, dict):
        return
    if value.get("type") in ("thinking", "redacted_thinking"):
        for field in ("signature", "data"):
            if isinstance(value.get(field), str):
                value[field] = ELIDED_SIGNATURE
                notes.append("signature")
    source = value.get("source")
    if isinstance(source, dict) and isinstance(source.get("data"), str):
        data = source["data"]
        if len(data) > ELIDE_DATA_OVER:
            media_type = source.get("media_type", "")
            source["data"] = ELIDED_DATA.format(size=len(data), media_type=media_type)
            notes.append("attachment")
    for item in value.values():
        if isinstance(item, (list, dict)):
            _elide(item, notes)


def literal(value: object, indent: int = 0, *, python: bool) -> str:
    """`value` as a Python or JavaScript literal: strings and numbers through json.dumps (valid
    in both), true/false/null spelled for the language, indented by two/four spaces."""
    step = "    " if python else "  "
    pad, inner = step * indent, step * (indent + 1)
    if isinstance(value, bool) or value is None:
        words = {True: "True", False: "False", None: "None"} if python else {}
        return words.get(value) or json.dumps(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{inner}{json.dumps(str(k), ensure_ascii=False)}: "
            f"{literal(v, indent + 1, python=python)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f",\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{inner}{literal(v, indent + 1, python=python)}" for v in value]
        return "[\n" + ",\n".join(items) + f",\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


def curl_code(messages_url: str, body: dict) -> str:
    data = json.dumps(body, indent=2, ensure_ascii=False)
    return (
        f"curl {shlex.quote(messages_url)} \\\n"
        '  -H "x-api-key: $ANTHROPIC_API_KEY" \\\n'
        f"  -H {shlex.quote('anthropic-version: ' + settings.ANTHROPIC_VERSION)} \\\n"
        '  -H "content-type: application/json" \\\n'
        f"  -d {shlex.quote(data)}\n"
    )


def python_code(base_url: str, body: dict) -> str:
    arguments = "".join(
        f"    {name}={literal(value, 1, python=True)},\n"
        for name, value in body.items()
        if name in PYTHON_ARGUMENTS
    )
    extra = {name: value for name, value in body.items() if name not in PYTHON_ARGUMENTS}
    if extra:
        arguments += (
            "    # Sent in the body as they are: recent SDKs no longer take them as arguments.\n"
            f"    extra_body={literal(extra, 1, python=True)},\n"
        )
    return (
        "import anthropic\n\n"
        "# The key comes from ANTHROPIC_API_KEY: your personal chatsite key.\n"
        f"client = anthropic.Anthropic(base_url={json.dumps(base_url)})\n\n"
        f"message = client.messages.create(\n{arguments})\n"
        "print(message.content)\n"
    )


def javascript_code(base_url: str, body: dict) -> str:
    return (
        'import Anthropic from "@anthropic-ai/sdk";\n\n'
        "// The key comes from ANTHROPIC_API_KEY: your personal chatsite key.\n"
        f"const client = new Anthropic({{ baseURL: {json.dumps(base_url)} }});\n\n"
        f"const message = await client.messages.create({literal(body, python=False)});\n"
        "console.log(message.content);\n"
    )


def snippets(reply: Message, messages_url: str) -> dict:
    """The view's answer: the three snippets, the request they send, and what was elided."""
    body, notes = code_request(reply)
    base_url = messages_url.removesuffix(MESSAGES_PATH)
    return {
        "curl": curl_code(messages_url, body),
        "python": python_code(base_url, body),
        "javascript": javascript_code(base_url, body),
        "request": body,
        "elided": sorted(set(notes)),
    }
