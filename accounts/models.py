"""Users and invite links: data and invariants only."""

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A team member. Custom from the first migration so fields can be added later."""

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")


def _invite_token() -> str:
    return secrets.token_urlsafe(24)


class Invite(models.Model):
    """A one-time sign-up link made by an admin (used when SIGNUP_MODE is "invite")."""

    token = models.CharField(_("token"), max_length=64, unique=True, default=_invite_token)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="invites_made",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    used_by = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invite",
        verbose_name=_("used by"),
    )
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("invite")
        verbose_name_plural = _("invites")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.note or self.token[:8]

    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()
