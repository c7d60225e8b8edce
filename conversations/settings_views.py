"""The settings panel's JSON endpoints: save or check a chat's settings, save and delete presets.

Bodies are JSON; a refusal is `400 {"error": {"code", "message", "field", "fields"}}` with
translated messages by field (the panel shows each beside its field), 403 for a team preset
changed by a member, 404 for what is not yours.
"""

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import presets, settings_services
from .errors import ChatError


def _body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ChatError("invalid_request", _("The request body must be a JSON object."))
    return body


def _model_id(body: dict) -> str | None:
    model = body.get("model")
    return model if isinstance(model, str) and model and len(model) <= 100 else None


def _refusal(exc: ChatError) -> JsonResponse:
    status = 403 if exc.code == "forbidden" else 400
    error = {"code": exc.code, "message": exc.detail}
    error["field"] = exc.extra.get("field")
    error["fields"] = exc.extra.get("fields") or (
        {error["field"]: exc.detail} if error["field"] else {}
    )
    return JsonResponse({"error": error}, status=status)


def _settings_answer(settings: dict, system_prompt: str) -> JsonResponse:
    return JsonResponse({"settings": settings, "system_prompt": system_prompt})


@login_required
@require_POST
def save_settings(request: HttpRequest, pk: int) -> JsonResponse:
    """Save a conversation's settings and system prompt (used from its next turn on)."""
    try:
        body = _body(request)
        conversation = settings_services.save_settings(
            request.user, pk, body.get("settings"), body.get("system_prompt"), _model_id(body)
        )
    except ChatError as exc:
        return _refusal(exc)
    return _settings_answer(conversation.settings, conversation.system_prompt)


@login_required
@require_POST
def check_settings(request: HttpRequest) -> JsonResponse:
    """Check settings for a chat not started yet (its first `send` carries them)."""
    try:
        body = _body(request)
        cleaned, prompt = settings_services.check_settings(
            request.user, _model_id(body), body.get("settings"), body.get("system_prompt")
        )
    except ChatError as exc:
        return _refusal(exc)
    return _settings_answer(cleaned, prompt)


@login_required
@require_POST
def save_preset(request: HttpRequest) -> JsonResponse:
    """Save the panel's settings, model and system prompt as a preset (`team`: staff only)."""
    try:
        body = _body(request)
        preset = presets.save_preset(
            request.user,
            body.get("name"),
            _model_id(body),
            body.get("settings"),
            body.get("system_prompt"),
            team=body.get("team") is True,
        )
    except ChatError as exc:
        return _refusal(exc)
    return JsonResponse({"preset": presets.preset_payload(preset)})


@login_required
@require_POST
def delete_preset(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        presets.delete_preset(request.user, pk)
    except ChatError as exc:
        return _refusal(exc)
    return JsonResponse({"deleted": pk})
