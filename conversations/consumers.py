"""ChatConsumer: WebSocket contract v1 (docs/protocol.md); validates frames and calls services."""

import json
import logging
from dataclasses import dataclass

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import Http404
from django.utils import translation
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from accounts import live_sessions
from accounts.limits import TokenBucket, retry_seconds
from chatsite.db_hop import hop

from . import services, settings_services, versions
from .branches import Tree, messages_by_ids, tree_of
from .frames import (
    branch_frame,
    completed_frame,
    conversation_created_frame,
    encode,
    error_frame,
    message_continued_frame,
    message_created_frame,
    message_payload,
)
from .models import Conversation, Message
from .runner import get_runner, group_name
from .selectors import conversation_for, mark_quota_cuts, message_for, streaming_messages_of

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 512 * 1024
MAX_CLIENT_ID = 64  # Message.client_id's length
MAX_KNOWN = 100  # message ids a subscribe may ask about
CLOSE_UNAUTHENTICATED = 4401


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.conversations: set[int] = set()
        self.signed_out = False
        self.user_group: str | None = None
        self.language = _language_of(self.scope)
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.runner = get_runner()
        rate = settings.WS_FRAMES_PER_SECOND
        self.frame_bucket = TokenBucket(rate, settings.WS_FRAME_BURST) if rate > 0 else None
        self.session_key = self.scope["session"].session_key
        self.session_tag = live_sessions.session_tag(self.session_key or "")
        # Every worker's sockets of this user hear of a sign-out, deactivation or new password.
        self.user_group = live_sessions.user_group(self.user.pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the consumer ends (a close, an error that escaped, a cancel), a socket
            # left subscribed would be delivered to, and kept alive, by the runner for good.
            await self._clean_up()

    async def disconnect(self, code: int) -> None:
        await self._clean_up()

    async def _clean_up(self) -> None:
        """Leave every conversation and the user group; each step runs even if another failed."""
        for conversation_id in list(getattr(self, "conversations", ())):
            try:
                await self._leave(conversation_id)
            except Exception:  # the channel layer is down: the local part is done already
                log.warning("leaving conversation %s failed", conversation_id, exc_info=True)
        group, self.user_group = getattr(self, "user_group", None), None
        if group is not None:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # the layer expires it (channels-redis: group_expiry)
                log.warning("leaving %s failed", group, exc_info=True)

    async def account_check(self, event: dict) -> None:
        """The user's account or one of their sessions changed (accounts.live_sessions)."""
        if self.signed_out or not getattr(self, "runner", None):
            return
        ended = event.get("ended_session")
        if ended is not None:
            if constant_time_compare(ended, self.session_tag):
                await self._sign_out()
            return
        try:
            signed_in = await self._signed_in()
        except Exception:  # the database is away: the next frame checks again
            log.warning("checking the session of a socket failed", exc_info=True)
            return
        if not signed_in:
            await self._sign_out()

    async def _signed_in(self) -> bool:
        return await database_sync_to_async(live_sessions.still_signed_in)(
            self.user.pk, self.session_key
        )

    async def _sign_out(self) -> None:
        """Close as unauthenticated; no delta follows, frames still in flight are ignored."""
        self.signed_out = True
        await self._clean_up()
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def deliver(self, text: str) -> None:
        """Called by the runner with an encoded frame for a conversation we follow."""
        await self.send(text_data=text)

    async def chat_frame(self, event: dict) -> None:
        """A frame from another process through the channel layer."""
        if event.get("origin") != settings.WORKER_ID:
            await self.send(text_data=event["text"])

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=encode(frame))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.signed_out or not getattr(self, "runner", None):
            return  # closed as unauthenticated
        with translation.override(self.language):
            try:
                await self._receive(text_data)
            except Exception:
                # Nothing a client sends may end its socket (1011) or skip the clean-up.
                log.exception("a frame could not be handled")
                detail = _("The server failed to handle this. Try again.")
                await self.send_frame(error_frame("internal", detail))

    async def _receive(self, text_data: str | None) -> None:
        if await self._refused_for_frame_rate():
            return
        frame = _parse(text_data)
        client_id = _client_id(frame)
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self.send_frame(
                error_frame("invalid_frame", _("Frames are JSON objects with a type."), client_id)
            )
            return
        if not _well_formed(frame):
            # Checked before anything echoes, stores or forwards a string of the frame.
            detail = _("Frames may not contain NUL characters or unpaired surrogates.")
            await self.send_frame(error_frame("invalid_frame", detail, client_id))
            return
        handler = {
            "send": self.on_send,
            "subscribe": self.on_subscribe,
            "stop": self.on_stop,
            "retry": self.on_retry,
            "continue": self.on_continue,
            "regenerate": self.on_regenerate,
            "edit": self.on_edit,
            "switch_branch": self.on_switch_branch,
        }.get(frame["type"])
        if handler is None:
            detail = _("Unknown frame type: %(type)s") % {"type": frame["type"][:50]}
            await self.send_frame(error_frame("invalid_frame", detail, client_id))
            return
        # Signed out, deactivated, new password: act on nothing. A frame that starts a reply
        # checks in its own trip to the database thread (`_start_reply`): one wait, not two.
        if frame["type"] not in STARTS_A_REPLY and not await self._signed_in():
            await self._sign_out()
            return
        try:
            await handler(frame, client_id)
        except services.ChatError as exc:
            await self.send_frame(error_frame(exc.code, exc.detail, client_id) | exc.extra)
        except Http404:
            await self.send_frame(error_frame("not_found", _("Not found."), client_id))
        except (KeyError, TypeError, ValueError):
            await self.send_frame(
                error_frame("invalid_frame", _("The frame is malformed."), client_id)
            )
        except Exception:
            # A database or channel-layer failure: keep the socket (and its subscriptions,
            # which disconnect() must still clean up) and say so.
            log.exception("frame %s failed", frame["type"])
            detail = _("The server failed to handle this. Try again.")
            await self.send_frame(error_frame("internal", detail, client_id))

    async def _refused_for_frame_rate(self) -> bool:
        """Every frame spends a token of this socket's bucket; none left: an error frame, and
        the frame is dropped unread (the socket stays open)."""
        wait = self.frame_bucket.take() if self.frame_bucket else None
        if wait is None:
            return False
        detail = _("Too many frames. Slow down.")
        await self.send_frame(
            error_frame("rate_limited", detail) | {"retry_after": retry_seconds(wait)}
        )
        return True

    # -- handlers ------------------------------------------------------------------------

    async def on_send(self, frame: dict, client_id: str | None) -> None:
        conversation_id = _optional_id(frame.get("conversation"))
        attachments = [_required_id(i) for i in _list(frame.get("attachments"))]
        model_id = _model_id(frame)
        allow_secrets = _allow_secrets(frame)
        # The settings panel's values: checked by the service, stored before this turn.
        chosen = settings_services.ChosenSettings(
            settings=frame.get("settings"),
            system_prompt=frame.get("system_prompt"),
            preset_id=_optional_id(frame.get("preset")),
        )
        result = await self._start_reply(
            services.send_message,
            self.user,
            conversation_id,
            frame.get("text"),
            attachments,
            client_id or "",
            model_id,
            allow_secrets=allow_secrets,
            chosen=chosen,
            prefill=frame.get("prefill"),
        )
        if result is None:
            return
        conversation = result.conversation
        if result.created:
            await self.send_frame(conversation_created_frame(conversation, client_id))
        await self._announce_and_run_reply(result, client_id)

    async def on_retry(self, frame: dict, client_id: str | None) -> None:
        message_id = _required_id(frame.get("message"))
        result = await self._start_reply(
            services.retry_reply, self.user, message_id, client_id or ""
        )
        await self._announce_and_run_reply(result, client_id)

    async def on_regenerate(self, frame: dict, client_id: str | None) -> None:
        message_id = _required_id(frame.get("message"))
        result = await self._start_reply(
            versions.regenerate_reply, self.user, message_id, client_id or "", _model_id(frame)
        )
        await self._announce_and_run_reply(result, client_id)

    async def on_edit(self, frame: dict, client_id: str | None) -> None:
        message_id = _required_id(frame.get("message"))
        attachments = [_required_id(i) for i in _list(frame.get("attachments"))]
        result = await self._start_reply(
            versions.edit_message,
            self.user,
            message_id,
            frame.get("text"),
            attachments,
            client_id or "",
            _model_id(frame),
            allow_secrets=_allow_secrets(frame),
        )
        await self._announce_and_run_reply(result, client_id)

    async def on_switch_branch(self, frame: dict, client_id: str | None) -> None:
        message_id = _required_id(frame.get("message"))
        view = await database_sync_to_async(versions.switch_branch)(self.user, message_id)
        conversation_id = view.conversation.pk
        await self._join(conversation_id)
        await self.runner.publish(
            conversation_id, _branch_frame(conversation_id, view.messages, view.tree)
        )

    async def on_continue(self, frame: dict, client_id: str | None) -> None:
        message_id = _required_id(frame.get("message"))
        result = await self._start_reply(
            services.continue_reply, self.user, message_id, client_id or ""
        )
        await self._announce_and_run_reply(result, client_id)

    async def _start_reply(self, function, *args, **kwargs) -> services.SendResult | None:
        """`function(*args, **kwargs)` on the database thread, the loop parked meanwhile
        (chatsite/db_hop.py), if the socket's session still stands; else the socket is signed
        out and None returned (nothing stored)."""
        result = await hop(_if_signed_in, self.session_key, self.user.pk, function, *args, **kwargs)
        if result is None:
            await self._sign_out()
        return result

    async def _announce_and_run_reply(
        self, result: services.SendResult | None, client_id: str | None
    ) -> None:
        if result is None:
            return  # signed out instead
        conversation_id = result.conversation.pk
        try:
            await self._join(conversation_id)
            if result.branch is not None:
                # A new version: every tab first drops what followed the old one.
                frame = _branch_frame(conversation_id, result.branch, result.tree)
                await self.runner.publish(conversation_id, frame)
            for message in (result.user_message, result.reply):
                if message is not None:
                    # A continued reply is not new: readers that saw it end take it up again.
                    announce = (
                        message_continued_frame if result.continued else message_created_frame
                    )
                    payload = message_payload(message, result.versions(message))
                    await self.runner.publish(conversation_id, announce(payload, client_id))
        finally:
            # The reply is stored with a hold: it must run even if telling the sockets failed.
            reply = result.reply
            self.runner.start(
                reply.pk,
                conversation_id,
                result.request,
                result.call.pk,
                base=reply.content,  # a prefill, or the text a continued reply goes on from
                seq=reply.seq,
            )

    async def on_subscribe(self, frame: dict, client_id: str | None) -> None:
        conversation_id = _required_id(frame.get("conversation"))
        known = [_required_id(i) for i in _list(frame.get("messages"))][:MAX_KNOWN]
        after = _optional_id(frame.get("after"))
        streaming, tree = await database_sync_to_async(_streaming_in)(self.user, conversation_id)
        if known or after is not None:
            # A client coming back after a disconnect: what ended or appeared meanwhile, on the
            # visible branch only.
            changes = await database_sync_to_async(_changes_in)(conversation_id, known, after)
            for message in changes.ended:
                await self.send_frame(completed_frame(message))
            if changes.branch is not None:
                # The branch it showed is no longer the visible one: it gets the whole thread.
                await self.send_frame(_branch_frame(conversation_id, changes.branch, changes.tree))
            for message in changes.new:
                payload = message_payload(message, changes.tree.versions(message.pk))
                # The sender's client_id: a tab that lost the socket mid-send learns its words
                # were stored after all.
                await self.send_frame(message_created_frame(payload, message.client_id))
        # Join after reading: the join registers this socket and snapshots the live replies
        # at one seq, and the frames below go out before any later delta can.
        snapshots = await self._join(conversation_id)
        for message in streaming:
            payload = message_payload(message, tree.versions(message.pk))
            # This process's runner knows the exact state; another process's is checkpointed,
            # and its exact state follows in a message.snapshot frame from that process.
            payload.update(snapshots.get(message.pk, {}))
            await self.send_frame(message_created_frame(payload, client_id))
            if message.pk not in snapshots:
                await self.runner.request_snapshot(message, self.channel_name)

    async def on_stop(self, frame: dict, client_id: str | None) -> None:
        message_id = _required_id(frame.get("message"))
        message = await database_sync_to_async(message_for)(self.user, message_id)
        if message.status == Message.Status.STREAMING:
            await self.runner.stop_anywhere(message.pk, message.worker)

    # -- subscriptions -------------------------------------------------------------------

    async def _join(self, conversation_id: int) -> dict:
        if conversation_id in self.conversations:
            return await self.runner.join(conversation_id, self)
        self.conversations.add(conversation_id)
        if self.runner.cross_process:
            await self.channel_layer.group_add(group_name(conversation_id), self.channel_name)
        return await self.runner.join(conversation_id, self)

    async def _leave(self, conversation_id: int) -> None:
        self.conversations.discard(conversation_id)
        runner = getattr(self, "runner", None)
        if runner is None:
            return
        runner.leave(conversation_id, self)
        if runner.cross_process:
            await self.channel_layer.group_discard(group_name(conversation_id), self.channel_name)


# These check the session in the same trip to the database thread as their own work.
STARTS_A_REPLY = frozenset({"send", "retry", "regenerate", "edit", "continue"})


def _if_signed_in(session_key: str, user_id: int, function, *args, **kwargs):
    """`function(*args, **kwargs)` if the socket's session still stands, else None."""
    if not live_sessions.still_signed_in(user_id, session_key):
        return None
    return function(*args, **kwargs)


def _list(value: object) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("list")
    return value


def _model_id(frame: dict) -> str | None:
    model_id = frame.get("model")
    if model_id is not None and (not isinstance(model_id, str) or len(model_id) > 100):
        raise ValueError("model")
    return model_id


def _allow_secrets(frame: dict) -> bool:
    allow_secrets = frame.get("allow_secrets", False)  # the user confirmed "Send anyway"
    if not isinstance(allow_secrets, bool):
        raise ValueError("allow_secrets")
    return allow_secrets


def _branch_frame(conversation_id: int, messages: list[Message], tree: Tree | None) -> dict:
    payloads = [message_payload(m, tree.versions(m.pk) if tree else None) for m in messages]
    return branch_frame(conversation_id, payloads)


@dataclass
class _Changes:
    """What a client coming back missed, on the visible branch (decision 71)."""

    tree: Tree
    ended: list[Message]  # replies it knew as streaming that have ended
    new: list[Message]  # ended messages after the last one it has
    branch: list[Message] | None  # the whole visible branch, when its own is no longer visible


def _changes_in(conversation_id: int, known: list[int], after: int | None) -> _Changes:
    conversation = Conversation.objects.get(pk=conversation_id)
    tree = tree_of(conversation_id)
    visible = tree.path_to(tree.visible_leaf(conversation))
    final = Message.objects.filter(pk__in=visible).exclude(status=Message.Status.STREAMING)
    final = final.select_related("conversation")  # for mark_quota_cuts
    ended = list(final.filter(pk__in=known)) if known else []
    if after is not None and after not in visible:
        # Its last message was set aside (another tab switched, regenerated or edited).
        branch = [m for m in messages_by_ids(visible) if m.status != Message.Status.STREAMING]
        return _Changes(tree, mark_quota_cuts(ended), [], mark_quota_cuts(branch))
    new: list[Message] = []
    if after is not None:
        later = final.filter(pk__gt=after).exclude(pk__in=known)
        new = list(later.order_by("id").prefetch_related("attachments"))  # payloads list them
    return _Changes(tree, mark_quota_cuts(ended), mark_quota_cuts(new), None)


def _streaming_in(user, conversation_id: int) -> tuple[list[Message], Tree]:
    conversation_for(user, conversation_id)  # 404 unless it is the user's
    return list(streaming_messages_of(conversation_id)), tree_of(conversation_id)


def _parse(text_data: str | None) -> object:
    if text_data is None or len(text_data) > MAX_FRAME_BYTES:
        return None
    try:
        return json.loads(text_data, parse_constant=_not_json)
    except (ValueError, RecursionError):  # the decoder recurses once per level of nesting
        return None


def _not_json(name: str) -> object:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: Python's json accepts them


def _client_id(frame: object) -> str | None:
    client_id = frame.get("client_id") if isinstance(frame, dict) else None
    if not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID:
        return None
    return client_id if _well_formed(client_id) else None


def _well_formed(value: object) -> bool:
    """No NUL and no unpaired surrogate in any key or string, however deep.

    JSON's \\u escapes can spell both; a surrogate cannot be encoded as UTF-8 (an error frame
    echoing it would close the socket) and neither can be stored in PostgreSQL text.
    Iterative: the decoder accepts nesting deeper than a recursive walk could follow.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return False
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _optional_id(value: object) -> int | None:
    return None if value is None else _required_id(value)


def _required_id(value: object) -> int:
    # A string of ASCII digits only: int() would also take "١", " 7", "+7" and "1_0", and
    # spend quadratic time on thousands of digits.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise ValueError("id")
    return value


def _language_of(scope: dict) -> str:
    """The reader's language for error details: the cookie, else Accept-Language."""
    headers = dict(scope.get("headers") or [])
    cookies = scope.get("cookies") or {}
    chosen = cookies.get(settings.LANGUAGE_COOKIE_NAME)
    if chosen and translation.check_for_language(chosen):
        return chosen
    accept = headers.get(b"accept-language", b"").decode("latin-1")
    for lang, _q in translation.trans_real.parse_accept_lang_header(accept):
        try:
            return translation.get_supported_language_variant(lang)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE
