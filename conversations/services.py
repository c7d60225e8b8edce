"""Chat actions that change state: send, retry, continue, rename and delete; the send path
that conversations/versions.py's regenerate and edit go through too."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, prefetch_related_objects
from django.http import Http404
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from accounts import ledger
from accounts.models import UpstreamCall, User
from accounts.prepared import Prepared
from accounts.request_bound import request_token_bound
from accounts.write_batch import WriteBatch

from . import api_rules, chat_settings, thinking
from .attachments import (
    attachment_ids,
    claim_for_send,
    copy_attachments,
    link_to_message,
    no_attachments,
)
from .branches import Tree, messages_by_ids, tree_of
from .errors import ChatError
from .frames import live_prices
from .models import CatalogModel, Conversation, Message
from .prompt import build_request
from .secret_scan import refuse_if_secrets
from .selectors import (
    conversation_for,
    message_for,
    model_or_refuse,
    preset_for,
)
from .sending_limits import (
    SendingLimits,
    refuse_if_sending_too_fast,
    refuse_if_too_many_replies,
    sending_limits_for,
)
from .settings_services import (
    NO_CHANGE,
    ChosenSettings,
    apply_settings,
    invalid_settings,
    refuse_bad_settings_early,
)
from .settlement import streamed_chars

log = logging.getLogger(__name__)
TITLE_LENGTH = 60


@dataclass(frozen=True)
class SendResult:
    conversation: Conversation
    created: bool
    user_message: Message | None
    reply: Message
    call: UpstreamCall
    continued: bool = False  # the reply existed and streams again (Continue)
    # The conversation's parent links, when a message may have siblings (decision 70).
    tree: Tree | None = None
    # A new version (regenerate, edit, retry): the visible branch before it, which every tab
    # shows (`conversation.branch`) before the new messages.
    branch: list[Message] | None = None

    @property
    def request(self) -> dict:
        """The Messages API request for the reply, as admitted (max_tokens included)."""
        return self.reply.upstream_request

    def versions(self, message: Message) -> dict | None:
        return self.tree.versions(message.pk) if self.tree else None


@dataclass(frozen=True)
class StreamingReply:
    """A reply still being written, and the worker writing it (which is asked to stop it)."""

    message_id: int
    worker: str


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


def _validate_text(text: object, allow_empty: bool = False) -> str:
    if allow_empty and text in (None, ""):
        return ""
    if not isinstance(text, str) or not (text.strip() or allow_empty):
        raise ChatError("invalid_frame", _("The message is empty."))
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError(
            "too_long",
            _("The message is too long (%(count)d characters; the limit is %(limit)d).")
            % {"count": len(text), "limit": settings.CHAT_MAX_MESSAGE_CHARS},
        )
    return text


def _busy() -> ChatError:
    return ChatError("busy", _("A reply is still being written. Stop it or wait for it."))


def _refuse_if_busy(conversation: Conversation) -> None:
    if conversation.messages.filter(status=Message.Status.STREAMING).exists():
        raise _busy()


def _locked_conversation(user: User, conversation_id: object) -> Conversation:
    """The user's conversation, row-locked, with `busy` (a reply of it is streaming): one
    statement for what `conversation_for` and `_refuse_if_busy` read, compiled once."""
    found = _LOCKED_CONVERSATION(user.pk, conversation_id)  # not a number: ValueError
    if not found:
        raise Http404("No Conversation matches the given query.")
    return found[0]


def _lockable(user_id: int):
    streaming = Message.objects.filter(
        conversation_id=OuterRef("pk"), status=Message.Status.STREAMING
    )
    return (
        Conversation.objects.filter(user_id=user_id)
        .select_for_update()
        .annotate(busy=Exists(streaming))
        .order_by()
    )


_LOCKED_CONVERSATION = Prepared(
    lambda user_id, conversation_id: _lockable(user_id).filter(pk=conversation_id)[:1]
)


def quota_error(balance: ledger.Balance, model: CatalogModel | None = None) -> ChatError:
    """The friendly refusal for an exhausted quota, with what is left and when it resets.

    When a short message would still fit, it is this conversation's length that does not:
    say so, since a new chat can still be sent.
    """
    when = None
    if balance.resets_at is not None:
        when = date_format(timezone.localtime(balance.resets_at), "DATETIME_FORMAT")
    if not ledger.is_exhausted(balance, model):
        detail = _(
            "This conversation is too long for what is left of your quota. Start a new chat, "
            "or ask an administrator for more."
        )
    elif when:
        detail = _("You have used up your quota. It resets on %(when)s.") % {"when": when}
    else:
        detail = _("You have used up your quota. Ask an administrator for more.")
    return ChatError(
        "quota_exceeded",
        detail,
        resets_at=balance.resets_at.isoformat() if balance.resets_at else None,
        remaining={
            "cost": (
                format(balance.remaining_cost, "f") if balance.remaining_cost is not None else None
            ),
            "tokens": balance.remaining_tokens,
        },
    )


def _create_streaming_reply(
    user: User,
    conversation: Conversation,
    model: CatalogModel,
    client_id: str,
    sending: SendingLimits,
    question: int,
    prefill: str = "",
    history: list[Message] | None = None,
) -> tuple[Message, UpstreamCall]:
    """Create the streaming reply to the user message `question` and admit its first call
    (inside the send transaction); it ends the visible branch (the caller saves `leaf`).

    A prefill is the reply's first words: stored as its text, the model continues it (H12).
    """
    current = refuse_if_too_many_replies(user, sending)
    # Stored by admission once its max_tokens is known: one INSERT, no UPDATE after it.
    reply = Message(
        conversation=conversation,
        parent_id=question,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        content=[{"type": "text", "text": prefill}] if prefill else [],
        model=model.model_id,
        client_id=client_id,
        heartbeat_at=timezone.now(),
        worker=settings.WORKER_ID,
    )
    reply.conversation = conversation
    call = _admit_reply(user, model, reply, current, history)
    conversation.leaf = reply
    return reply, call


def _admit_reply(
    user: User,
    model: CatalogModel,
    reply: Message,
    current: ledger.Balance | None = None,
    history: list[Message] | None = None,
) -> UpstreamCall:
    """Build the reply's request, admit its call and fit thinking to what was admitted; a
    reply not stored yet is stored here, with its max_tokens.

    Inside the caller's transaction: a refusal rolls everything back, nothing charged.
    `current`: the balance this transaction already read under its lock.
    """
    request = build_request(reply, model, history)
    wanted = chat_settings.wanted_max_tokens(reply.conversation.settings or {}, model)
    request["max_tokens"] = wanted
    thinking.fit_request(request, "invalid_settings")
    # Before admission: a request the API would refuse is neither held nor charged.
    _check_rules(request, model)
    bound = request_token_bound(request)
    try:
        allowed = ledger.admission_room(user, model, bound, wanted, current=current)
    except ledger.QuotaExceeded as exc:
        raise quota_error(exc.balance, model) from None  # the transaction rolls back
    request["max_tokens"] = reply.max_tokens = allowed
    # The quota may have lowered max_tokens below the thinking budget (decision 60).
    thinking.fit_request(request, "quota_exceeded")
    batch = WriteBatch()
    if reply.pk is None:
        reply.insert_in(batch, "message")  # with its call and hold: one statement (decision 100)
    else:
        Message.objects.filter(pk=reply.pk).update(
            max_tokens=reply.max_tokens, attachments_left_out=reply.attachments_left_out
        )
    admission = ledger.open_call(
        user,
        model,
        bound,
        allowed,
        source=UpstreamCall.Source.CHAT,
        message=reply,
        input_estimate=ledger.estimate_prompt_tokens(request),
        batch=batch,
    )
    # The runner sends exactly this, without reading the conversation again.
    reply.upstream_request = request
    # The hold's snapshot is these prices: the page prices the stream with them (decision 91).
    reply.admitted_prices = live_prices(model.pricing(), admission.call.input_estimate)
    return admission.call


def _write_now(add: Callable[[WriteBatch], None]) -> None:
    """One write on the send path without the ORM's save(), whose building costs more CPU
    than the statement (decision 100)."""
    batch = WriteBatch()
    add(batch)
    batch.run()


def _check_rules(request: dict, model: CatalogModel) -> None:
    try:
        api_rules.check_request(request, max_output_tokens=model.max_output_tokens)
    except api_rules.ApiRuleError as exc:
        raise invalid_settings({exc.field or "settings": exc.message}) from None


def _validate_prefill(prefill: object) -> str:
    """The reply's first words, without the trailing whitespace the API refuses."""
    if prefill is None:
        return ""
    if not isinstance(prefill, str):
        raise ChatError("invalid_frame", _("The start of the reply must be text."))
    if len(prefill) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError(
            "too_long",
            _("The start of the reply is too long (%(count)d characters; the limit is %(limit)d).")
            % {"count": len(prefill), "limit": settings.CHAT_MAX_MESSAGE_CHARS},
        )
    return prefill.rstrip()


def send_message(
    user: User,
    conversation_id: int | None,
    text: object,
    attachments: object = (),
    client_id: str = "",
    model_id: str | None = None,
    allow_secrets: bool = False,
    chosen: ChosenSettings = NO_CHANGE,
    prefill: object = None,
) -> SendResult:
    """Store the user's words and a streaming reply in one transaction; nothing goes upstream.

    `attachments`: ids of the sender's own unsent uploads; they join the user message, and the
    reply's request carries them (read from storage only after this commits: the runner).
    `prefill`: the reply's first words, which the model continues (the reply starts with them).
    """
    ids = attachment_ids(attachments)
    text = _validate_text(text, allow_empty=bool(ids))
    prefill = _validate_prefill(prefill)
    if prefill:
        refuse_if_secrets(prefill, confirmed=allow_secrets)
    refuse_if_secrets(text, confirmed=allow_secrets)  # before the limits: only the resend counts
    if chosen.preset_id is not None and conversation_id is not None:
        raise ChatError("invalid_frame", _("A preset can only start a new chat."))
    refuse_bad_settings_early(user, conversation_id, model_id, chosen)
    sending = sending_limits_for(user)
    refuse_if_sending_too_fast(user, sending)
    with transaction.atomic():
        created = conversation_id is None
        if created:
            if model_id is None and chosen.preset_id is not None:
                model_id = preset_for(user, chosen.preset_id).model
            model = model_or_refuse(user, model_id)
            claimed = claim_for_send(user, ids, model)
            title = _title_from(text) or (claimed[0].name if claimed else "")
            conversation = Conversation(user=user, model=model.model_id, title=title[:200])
            apply_settings(user, conversation, model, chosen)
            conversation.save()
        else:
            conversation = _locked_conversation(user, conversation_id)
            if conversation.busy:
                raise _busy()
            model = model_or_refuse(user, model_id or conversation.model)
            claimed = claim_for_send(user, ids, model)
            if conversation.model != model.model_id:
                conversation.model = model.model_id
            apply_settings(user, conversation, model, chosen)
        user_message, reply, call = _store_turn(
            user,
            conversation,
            model,
            text,
            claimed,
            client_id,
            sending,
            parent=conversation.leaf_id,
            prefill=prefill,
        )
        fields = ["updated_at", "model", "settings", "system_prompt", "preset", "leaf"]
        _write_now(lambda batch: batch.update_fields(conversation, fields))
    return SendResult(conversation, created, user_message, reply, call)


def _store_turn(
    user: User,
    conversation: Conversation,
    model: CatalogModel,
    text: str,
    claimed: list,
    client_id: str,
    sending: SendingLimits,
    *,
    parent: int | None,
    prefill: str = "",
    kept: list = (),
) -> tuple[Message, Message, UpstreamCall]:
    """The user message after `parent` (its claimed uploads, and copies of the `kept`
    attachments of the message it edits), then its streaming reply: the one path of send and
    edit."""
    user_message = Message(
        conversation=conversation,
        parent_id=parent,
        role=Message.Role.USER,
        content=[{"type": "text", "text": text}] if text.strip() else [],
        client_id=client_id,
    )
    _write_now(lambda batch: user_message.insert_in(batch, "message"))
    link_to_message(claimed, user_message)
    if kept:
        copy_attachments(kept, user, conversation, user_message)
    if claimed or kept:
        prefetch_related_objects([user_message], "attachments")  # its payload lists them
    else:
        no_attachments(user_message)  # known empty: no query
    # A first message has no history before it: its branch is itself, not read again.
    known = [user_message] if parent is None else None
    reply, call = _create_streaming_reply(
        user, conversation, model, client_id, sending, user_message.pk, prefill, known
    )
    return user_message, reply, call


def _new_version(
    conversation: Conversation, user_message: Message | None, reply: Message, call: UpstreamCall
) -> SendResult:
    """The result of a regenerate, edit or retry: the new version is visible, and the branch
    before it is what every tab shows first."""
    tree = tree_of(conversation.pk)
    first_new = user_message or reply
    branch = messages_by_ids(tree.path_to(first_new.parent_id))
    return SendResult(conversation, False, user_message, reply, call, tree=tree, branch=branch)


def retry_reply(user: User, message_id: object, client_id: str = "") -> SendResult:
    """Start a new reply after a failed or interrupted one that ends the visible branch.

    The new reply is a new version of the failed one (its sibling), which stays as the
    earlier version with its error and its charge (decision 70).
    """
    sending = sending_limits_for(user)
    refuse_if_sending_too_fast(user, sending)
    with transaction.atomic():
        failed = message_for(user, message_id, lock=True)
        conversation = failed.conversation
        # A stopped reply is part of the history (the reader chose to end it): send again instead.
        retryable = {Message.Status.FAILED, Message.Status.INTERRUPTED}
        if (
            failed.role != Message.Role.ASSISTANT
            or failed.status not in retryable
            or conversation.leaf_id != failed.pk
        ):
            raise ChatError(
                "invalid_frame", _("Only the last reply can be retried, and only if it failed.")
            )
        _refuse_if_busy(conversation)
        model = model_or_refuse(user, conversation.model)
        reply, call = _create_streaming_reply(
            user, conversation, model, client_id, sending, failed.parent_id
        )
        conversation.save(update_fields=["updated_at", "leaf"])
        return _new_version(conversation, None, reply, call)


CONTINUE_TEXT = _lazy("Continue from where you stopped.")


def _continuable(reply: Message) -> bool:
    """Cut at max_tokens, stopped or interrupted, with text to continue from."""
    if reply.role != Message.Role.ASSISTANT or not reply.text.strip():
        return False
    if reply.status == Message.Status.COMPLETE:
        return reply.stop_reason == "max_tokens"
    return reply.status in {Message.Status.STOPPED, Message.Status.INTERRUPTED}


def continue_reply(user: User, message_id: object, client_id: str = "") -> SendResult:
    """Continue the last reply where it ended: its text goes back as the prefill (H12), it
    streams again, and a new call of its own is admitted and charged (decision 61).

    With thinking on the API refuses a prefill, so a new turn asks for the rest instead: the
    result then has a user message and a new reply.
    """
    sending = sending_limits_for(user)
    refuse_if_sending_too_fast(user, sending)
    with transaction.atomic():
        reply = message_for(user, message_id, lock=True)
        conversation = reply.conversation
        if conversation.leaf_id != reply.pk:  # the end of the visible branch
            raise ChatError("invalid_frame", _("Only the last reply can be continued."))
        _refuse_if_busy(conversation)
        if not _continuable(reply):
            raise ChatError(
                "not_continuable",
                _(
                    "Only a reply cut short (by its length limit, a stop or a restart) "
                    "can be continued."
                ),
            )
        model = model_or_refuse(user, reply.model or conversation.model)
        if thinking.wanted_budget(model, conversation):
            return _continue_as_new_turn(user, conversation, model, client_id, sending)
        current = refuse_if_too_many_replies(user, sending)
        _reopen(reply, client_id)
        call = _admit_reply(user, model, reply, current)
        conversation.save(update_fields=["updated_at"])
        tree = tree_of(conversation.pk)  # the continued reply's payload names its versions
    return SendResult(conversation, False, None, reply, call, continued=True, tree=tree)


def _reopen(reply: Message, client_id: str) -> None:
    """Make an ended reply stream again, its text without the trailing whitespace the API
    refuses (the continuation brings its own), its seq going on from where it was."""
    content = [dict(block) for block in reply.content]
    last = content[-1] if content else None
    if last and last.get("type") == "text":
        last["text"] = last.get("text", "").rstrip()
    reply.content, reply.status = content, Message.Status.STREAMING
    reply.stop_reason, reply.error, reply.usage = "", None, {}
    reply.client_id, reply.max_tokens = client_id, None
    reply.heartbeat_at, reply.worker = timezone.now(), settings.WORKER_ID
    reply.save()


def _continue_as_new_turn(
    user: User, conversation: Conversation, model: CatalogModel, client_id: str, sending
) -> SendResult:
    user_message, reply, call = _store_turn(
        user,
        conversation,
        model,
        str(CONTINUE_TEXT),
        [],
        client_id,
        sending,
        parent=conversation.leaf_id,
    )
    conversation.save(update_fields=["updated_at", "leaf"])
    return SendResult(conversation, False, user_message, reply, call)


def rename_conversation(user: User, conversation_id: object, title: str) -> Conversation:
    return edit_conversation(conversation_for(user, conversation_id), title=title)


def edit_conversation(
    conversation: Conversation, *, title: str | None = None, system_prompt: str | None = None
) -> Conversation:
    """Change a conversation's title or system prompt (the owner's rename, the admin's edit)."""
    changed = []
    if title is not None:
        conversation.title = " ".join(title.split())[:200]
        # The member's (or an admin's) choice: no automatic title replaces it (decision 72).
        conversation.title_source = Conversation.TitleSource.RENAMED
        changed += ["title", "title_source"]
    if system_prompt is not None:
        conversation.system_prompt = system_prompt
        changed.append("system_prompt")
    if changed:
        conversation.save(update_fields=[*changed, "updated_at"])
    return conversation


def delete_conversation(user: User, conversation_id: object) -> list[StreamingReply]:
    """Delete a conversation; returns the replies that were still streaming."""
    with transaction.atomic():
        conversation = conversation_for(user, conversation_id)
        return delete_conversations(Conversation.objects.filter(pk=conversation.pk))


def delete_conversations(conversations) -> list[StreamingReply]:
    """Delete conversations (the app's and the admin's one path); returns the replies that
    were still streaming, which the caller asks their workers to stop.

    Their calls stay open: the worker settles each from its own usage once stopped (it knows
    more than any checkpoint), and if that worker is dead, the reaper settles it from what is
    recorded on the call here.
    """
    with transaction.atomic():
        replies = list(
            Message.objects.filter(
                conversation__in=conversations, status=Message.Status.STREAMING
            ).select_for_update()
        )
        for reply in replies:
            UpstreamCall.objects.filter(message=reply, status=UpstreamCall.Status.RUNNING).update(
                usage=reply.usage, output_chars=streamed_chars(reply.content)
            )
        Conversation.objects.filter(pk__in=[c.pk for c in conversations]).delete()
    return [StreamingReply(reply.pk, reply.worker) for reply in replies]
