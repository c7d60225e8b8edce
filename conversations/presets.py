"""Preset actions: save the current settings under a name, publish for the team, delete.

A member's presets are their own; team presets (no owner) are offered to everyone and made,
changed and deleted only by staff. Saving under a name that exists replaces that preset.
"""

from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from accounts.models import User

from .errors import ChatError
from .models import Preset
from .selectors import usable_model
from .settings_services import check_settings

MAX_NAME = Preset._meta.get_field("name").max_length


def preset_payload(preset: Preset) -> dict:
    """A preset as the chat page and the preset endpoints show it."""
    return {
        "id": preset.pk,
        "name": preset.name,
        "team": preset.is_team,
        "model": preset.model,
        "system_prompt": preset.system_prompt,
        "settings": preset.settings,
    }


def _clean_name(name: object) -> str:
    name = " ".join(name.split()) if isinstance(name, str) else ""
    if not name:
        raise ChatError("invalid_preset", _("Give the preset a name."), field="preset_name")
    if len(name) > MAX_NAME:
        message = _("A preset name can be at most %(limit)d characters long.") % {"limit": MAX_NAME}
        raise ChatError("invalid_preset", message, field="preset_name")
    return name


def _refuse_unless_staff(user: User) -> None:
    if not user.is_staff:
        raise ChatError("forbidden", _("Only administrators can change team presets."))


def save_preset(
    user: User,
    name: object,
    model_id: str | None,
    raw_settings: object,
    system_prompt: object,
    *,
    team: bool = False,
) -> Preset:
    """Save settings, model and system prompt under a name (the user's, or the team's)."""
    if team:
        _refuse_unless_staff(user)
    name = _clean_name(name)
    # The same checks as a conversation's settings: a preset never starts a refused chat.
    cleaned, prompt = check_settings(user, model_id, raw_settings, system_prompt)
    model = usable_model(user, model_id)  # check_settings refused it if there is none
    owner = None if team else user
    with transaction.atomic():
        preset = Preset.objects.select_for_update().filter(owner=owner, name=name).first()
        preset = preset or Preset(owner=owner, name=name)
        preset.model = model.model_id
        preset.system_prompt, preset.settings = prompt, cleaned
        preset.save()
    return preset


def delete_preset(user: User, preset_id: object) -> None:
    """Delete one of the user's presets, or (staff) a team preset; others' are a 404."""
    preset = get_object_or_404(Preset, pk=preset_id)
    if preset.is_team:
        _refuse_unless_staff(user)
    elif preset.owner_id != user.pk:
        raise Http404  # another member's preset does not exist for you
    preset.delete()
