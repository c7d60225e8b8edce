"""Read queries used by several views and the consumer: the one place the per-user scope lives."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User

from .models import Conversation, Message


def conversations_for(user: User) -> QuerySet[Conversation]:
    """The user's conversations, newest activity first."""
    return Conversation.objects.filter(user=user).order_by("-updated_at", "-id")


def conversation_for(user: User, conversation_id: object) -> Conversation:
    """The user's conversation with this id, or Http404 (also for another user's id)."""
    return get_object_or_404(conversations_for(user), pk=conversation_id)


def message_for(user: User, message_id: object) -> Message:
    """The message with this id in one of the user's conversations, or Http404."""
    return get_object_or_404(
        Message.objects.select_related("conversation"), pk=message_id, conversation__user=user
    )


def messages_of(conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("id")


def streaming_messages_of(conversation_id: int) -> QuerySet[Message]:
    return Message.objects.filter(
        conversation_id=conversation_id, status=Message.Status.STREAMING
    ).order_by("id")
