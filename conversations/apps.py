"""App config for conversations: chat data, the upstream client and the generation runner."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Conversations")

    def ready(self) -> None:
        from . import (
            attachments,  # noqa: F401  (connects the file-deleting signal)
            model_cache,
        )

        model_cache.connect()
