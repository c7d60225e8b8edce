"""Read queries used by several views and the consumer: the one place the per-user scope lives."""

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from accounts.models import Quota, User

from . import chat_settings, model_cache
from .errors import ChatError
from .models import CatalogModel, Conversation, Message, Preset
from .search import SearchHit, search_page


def conversations_for(user: User) -> QuerySet[Conversation]:
    """The user's conversations, newest activity first."""
    return Conversation.objects.filter(user=user).order_by("-updated_at", "-id")


def conversation_for(user: User, conversation_id: object, *, lock: bool = False) -> Conversation:
    """The user's conversation with this id, or Http404 (also for another user's id).

    `lock` (inside a transaction): row-lock it, so two sends to it are checked one at a time.
    """
    conversations = conversations_for(user)
    if lock:
        conversations = conversations.select_for_update()
    return get_object_or_404(conversations, pk=conversation_id)


def message_for(user: User, message_id: object, *, lock: bool = False) -> Message:
    """The message with this id in one of the user's conversations, or Http404."""
    messages = Message.objects.select_related("conversation")
    if lock:
        messages = messages.select_for_update(of=("self", "conversation"))
    return get_object_or_404(messages, pk=message_id, conversation__user=user)


def messages_of(conversation: Conversation) -> QuerySet[Message]:
    """Every message of every branch, by id (support and checks); the thread a reader sees is
    `branches.visible_path` (decision 70)."""
    return conversation.messages.order_by("id").prefetch_related("attachments")


def streaming_messages_of(conversation_id: int) -> QuerySet[Message]:
    return Message.objects.filter(
        conversation_id=conversation_id, status=Message.Status.STREAMING
    ).order_by("id")


def available_models(user: User) -> QuerySet[CatalogModel]:
    """Models this user may choose: enabled, allowed by their quota, demo-only without a key."""
    models = CatalogModel.objects.filter(enabled=True)
    if settings.DEMO_MODE:
        return models.filter(model_id=settings.DEMO_MODEL)
    models = models.exclude(model_id=settings.DEMO_MODEL)
    # One query: no allowed models ticked means every enabled model.
    allowed = Quota.allowed_models.through.objects.filter(quota_id=user.pk)
    return models.filter(~Exists(allowed) | Exists(allowed.filter(catalogmodel_id=OuterRef("pk"))))


def default_model_for(user: User) -> CatalogModel | None:
    """The catalog default if this user may use it, else CHAT_MODEL, else any allowed model."""
    cached = model_cache.default_model(user)
    if cached is not model_cache.UNKNOWN:
        return cached
    models = available_models(user)
    return (
        models.filter(is_default=True).first()
        or models.filter(model_id=settings.CHAT_MODEL).first()
        or models.order_by("display_name").first()
    )


def usable_model(user: User, model_id: str | None) -> CatalogModel | None:
    """The catalog entry for model_id if this user may use it now (None: the default)."""
    if not model_id:
        return default_model_for(user)
    # Per process, invalidated when an admin saves (decision 95): no statement on a send.
    cached = model_cache.usable_model(user, model_id)
    if cached is not model_cache.UNKNOWN:
        return cached
    return available_models(user).filter(model_id=model_id).first()


def model_or_refuse(user: User, model_id: str | None) -> CatalogModel:
    """`usable_model`, or the `model_unavailable` refusal (None: the default model)."""
    model = usable_model(user, model_id)
    if model is None and not model_id:
        raise ChatError(
            "model_unavailable",
            _("No model is available to you. Ask an administrator to enable one."),
        )
    if model is None:
        raise ChatError(
            "model_unavailable",
            _("The model %(model)s is not available to you. Choose another model.")
            % {"model": model_id},
        )
    return model


def presets_for(user: User) -> QuerySet[Preset]:
    """The presets a user may start a chat from: their own and the team's, by name."""
    return Preset.objects.filter(Q(owner=user) | Q(owner__isnull=True)).order_by("name", "id")


def preset_for(user: User, preset_id: object) -> Preset:
    """A preset this user may use (their own or the team's), or Http404."""
    return get_object_or_404(presets_for(user), pk=preset_id)


def mark_quota_cuts(messages: list[Message]) -> list[Message]:
    """Set `max_tokens_lowered` on each reply cut at a max_tokens that the quota lowered.

    The reply keeps the max_tokens its (latest) call was admitted with; below what its
    conversation's settings ask for, the quota lowered it (admission never lowers it for
    another reason), so a reply that stopped there was cut short by the quota, not by its
    length limit. Frames and pages read the mark (`frames.message_payload`).
    """
    cut = [
        m
        for m in messages
        if m.role == Message.Role.ASSISTANT and m.stop_reason == "max_tokens" and m.max_tokens
    ]
    if not cut:
        return messages
    models = {
        m.model_id: m for m in CatalogModel.objects.filter(model_id__in={m.model for m in cut})
    }
    for message in cut:
        model = models.get(message.model)
        wanted = (
            chat_settings.wanted_max_tokens(message.conversation.settings or {}, model)
            if model
            else None
        )
        message.max_tokens_lowered = wanted is not None and message.max_tokens < wanted
    return messages


def quota_cut_of(message_id: int) -> bool:
    """Whether this reply was cut short by a max_tokens the quota lowered (see above)."""
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None:
        return False
    return bool(getattr(mark_quota_cuts([message])[0], "max_tokens_lowered", False))


def search_conversations(user_id: int, query: str, limit: int = 20) -> list[SearchHit]:
    """The user's own conversations whose title or message text holds `query` (any case),
    newest activity first: the one search the tools and the sidebar's search use
    (conversations/search.py pages it; decision 84). An empty query finds nothing; a query
    over search.MAX_QUERY_CHARS raises search.SearchError."""
    if not " ".join(query.split()):
        return []
    return search_page(user_id, query, per_page=limit).hits
