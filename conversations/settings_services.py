"""A conversation's settings and system prompt as a send or the settings panel change them:
cleaned, checked against the model's rules (chat_settings, api_rules), then stored."""

from dataclasses import dataclass

from django.db import transaction

from accounts.models import User

from . import chat_settings
from .errors import ChatError
from .models import CatalogModel, Conversation
from .selectors import conversation_for, model_or_refuse, preset_for


def invalid_settings(fields: dict[str, str]) -> ChatError:
    """The refusal of settings the API would not take: the first message, and every field's."""
    field, message = next(iter(fields.items()))
    return ChatError("invalid_settings", message, field=field, fields=fields)


@dataclass(frozen=True)
class ChosenSettings:
    """What a `send` asks to change before its turn: settings, system prompt, a preset."""

    settings: object = None  # None: keep the conversation's
    system_prompt: object = None  # None: keep the conversation's
    preset_id: int | None = None  # a new conversation only


NO_CHANGE = ChosenSettings()  # a send that keeps the conversation's settings


def apply_settings(
    user: User, conversation: Conversation, model: CatalogModel, chosen: ChosenSettings
) -> None:
    """Put a send's settings on its conversation (checked against the model), before the turn."""
    preset = None
    if chosen.preset_id is not None:
        preset = preset_for(user, chosen.preset_id)
        conversation.preset = preset if preset.is_team else None
    raw, prompt = chosen.settings, chosen.system_prompt
    if preset is not None:
        raw = preset.settings if raw is None else raw
        # A team preset's prompt goes as its own block; a member's is theirs to edit.
        own = "" if preset.is_team else preset.system_prompt
        prompt = own if prompt is None else prompt
    if raw is None and prompt is None:
        return
    try:
        cleaned, prompt_text = chat_settings.validated(
            conversation.settings if raw is None else raw,
            conversation.system_prompt if prompt is None else prompt,
            model,
        )
    except chat_settings.SettingsInvalid as exc:
        raise invalid_settings(exc.fields) from None
    conversation.settings, conversation.system_prompt = cleaned, prompt_text


def refuse_bad_settings_early(
    user: User, conversation_id: int | None, model_id: str | None, chosen: ChosenSettings
) -> None:
    """Check a send's own settings before the limits count it: fixing them is not a new send.

    Reads only; the transaction applies them again under the conversation's lock.
    """
    if chosen.settings is None and chosen.system_prompt is None:
        return
    if not model_id and conversation_id is not None:
        model_id = conversation_for(user, conversation_id).model
    elif not model_id and chosen.preset_id is not None:
        model_id = preset_for(user, chosen.preset_id).model
    model = model_or_refuse(user, model_id)
    try:
        chat_settings.validated(
            {} if chosen.settings is None else chosen.settings,
            "" if chosen.system_prompt is None else chosen.system_prompt,
            model,
        )
    except chat_settings.SettingsInvalid as exc:
        raise invalid_settings(exc.fields) from None


def check_settings(
    user: User, model_id: str | None, raw: object, system_prompt: object
) -> tuple[dict, str]:
    """Settings for a chat not started yet, cleaned and checked against the model (or refused)."""
    model = model_or_refuse(user, model_id)
    try:
        return chat_settings.validated(raw, system_prompt, model)
    except chat_settings.SettingsInvalid as exc:
        raise invalid_settings(exc.fields) from None


def save_settings(
    user: User, conversation_id: object, raw: object, system_prompt: object, model_id: str | None
) -> Conversation:
    """Save a conversation's settings and system prompt, used from its next turn on.

    Checked against `model_id` (the page's model picker, which the next send switches to) or
    the conversation's model.
    """
    with transaction.atomic():
        conversation = conversation_for(user, conversation_id, lock=True)
        cleaned, prompt = check_settings(user, model_id or conversation.model, raw, system_prompt)
        conversation.settings, conversation.system_prompt = cleaned, prompt
        conversation.save(update_fields=["settings", "system_prompt", "updated_at"])
    return conversation
