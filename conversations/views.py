"""Chat pages: the chat, the sidebar (HTMX), rename and delete."""

from asgiref.sync import async_to_sync
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.selectors import output_tokens_left, quota_meter

from . import get_code as get_code_snippets
from . import services, thinking
from .branches import tree_of, visible_path
from .chat_settings import supports_thinking, thinks_always
from .frames import conversation_payload, conversation_updated_frame, message_payload
from .models import Conversation, Message
from .presets import preset_payload
from .runner import publish, stop_replies
from .selectors import (
    available_models,
    conversation_for,
    default_model_for,
    mark_quota_cuts,
    presets_for,
)
from .sidebar import sidebar_context
from .tools import registry as tool_registry


def _sidebar(request: HttpRequest, current_id: int | None = None) -> dict:
    return sidebar_context(request.user, current_id)


def _thinking_models(request: HttpRequest, conv: Conversation | None) -> list[str]:
    """The models that think in this conversation: there Continue asks in a new message, as
    the API refuses a prefill with thinking on."""
    conv = conv or Conversation()
    models = available_models(request.user)
    return [m.model_id for m in models if thinking.wanted_budget(m, conv)]


def _composer(request: HttpRequest, conv: Conversation | None) -> dict:
    """The model picker and the quota meter under the composer."""
    default = default_model_for(request.user)
    current = conv.model if conv else (default.model_id if default else "")
    models = list(available_models(request.user))
    return {
        "models": models,
        "current_model": current,
        "settings_state": _settings_state(request, conv, models),
    } | quota_meter(request.user, default)


def _settings_state(request: HttpRequest, conv: Conversation | None, models: list) -> dict:
    """What the settings panel (static/js/settings.js) starts from: the conversation's settings,
    each model's limits, what the quota leaves, and the presets."""
    preset = conv.preset if conv and conv.preset_id else None
    left = output_tokens_left(request.user, models)
    return {
        "settings": conv.settings if conv else {},
        "system_prompt": conv.system_prompt if conv else "",
        "team_prompt": preset.system_prompt if preset else "",
        "team_preset": preset.name if preset else "",
        "models": {
            m.model_id: {
                "max_output_tokens": m.max_output_tokens,
                "thinking": supports_thinking(m),
                # A catalog budget, or a gateway's -thinking id: thinks whatever the switch says.
                "thinking_always": thinks_always(m),
                "thinking_budget": m.thinking_budget,
                "quota_output_tokens": left[m.model_id],
            }
            for m in models
        },
        "presets": [preset_payload(p) for p in presets_for(request.user)],
        "is_staff": request.user.is_staff,
        "tools": tool_registry.choices(),
    }


@login_required
@require_GET
def chat(request: HttpRequest) -> HttpResponse:
    """A new, empty chat: the first message creates the conversation."""
    context = (
        _sidebar(request)
        | _composer(request, None)
        | {
            "conversation": None,
            "chat_state": {
                "conversation": None,
                "messages": [],
                "thinking_models": _thinking_models(request, None),
            },
        }
    )
    return render(request, "conversations/chat.html", context)


@login_required
@require_GET
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    conv = conversation_for(request.user, pk)
    tree = tree_of(conv.pk)
    messages = mark_quota_cuts(visible_path(conv, tree))  # the visible branch only (decision 70)
    state = {
        "conversation": conversation_payload(conv),
        "messages": [message_payload(m, tree.versions(m.pk)) for m in messages],
        "thinking_models": _thinking_models(request, conv),
    }
    context = (
        _sidebar(request, conv.pk)
        | _composer(request, conv)
        | {
            "conversation": conv,
            "chat_state": state,
        }
    )
    return render(request, "conversations/chat.html", context)


@login_required
@require_GET
def sidebar(request: HttpRequest) -> HttpResponse:
    current = request.GET.get("current")
    context = _sidebar(request, int(current) if current and current.isdigit() else None)
    return render(request, "conversations/partials/sidebar.html", context)


@login_required
@require_GET
def usage_meter(request: HttpRequest) -> HttpResponse:
    """The quota meter under the composer (HTMX refreshes it after each reply)."""
    context = quota_meter(request.user, default_model_for(request.user))
    return render(request, "accounts/partials/meter.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def rename(request: HttpRequest, pk: int) -> HttpResponse:
    conv = conversation_for(request.user, pk)
    if request.method == "POST":
        conv = services.rename_conversation(request.user, pk, request.POST.get("title", ""))
        # The conversation's other tabs (and their sidebars) take the new name at once.
        frame = conversation_updated_frame(conv.pk, conv.display_title)
        async_to_sync(publish)(conv.pk, frame)
        if request.headers.get("HX-Request"):
            return render(
                request, "conversations/partials/sidebar.html", _sidebar(request, conv.pk)
            )
        return redirect(conv)
    return render(request, "conversations/rename.html", {"conversation": conv})


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes (no state change on GET) and stops its reply."""
    conv = conversation_for(request.user, pk)
    if request.method == "GET":
        return render(request, "conversations/delete.html", {"conversation": conv})
    streaming = services.delete_conversation(request.user, pk)
    if streaming:
        # The runner lives on the server's event loop: the upstream stream ends now.
        async_to_sync(stop_replies)(streaming)
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("chat")
        return response
    return redirect("chat")


@login_required
@require_GET
def get_code(request: HttpRequest, pk: int, message_id: int) -> JsonResponse:
    """The "Get code" dialog's snippets for one of the member's replies (decision 83)."""
    conv = conversation_for(request.user, pk)
    reply = get_object_or_404(
        conv.messages.select_related("conversation"),
        pk=message_id,
        role=Message.Role.ASSISTANT,
    )
    messages_url = request.build_absolute_uri(get_code_snippets.MESSAGES_PATH)
    return JsonResponse(get_code_snippets.snippets(reply, messages_url))
