"""GenerationRunner: process-owned reply tasks, delta coalescing, checkpoints and fan-out."""

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import DatabaseError

from accounts.models import UpstreamCall

from . import selectors, services, settlement, titles, tool_loop
from .anthropic import AnthropicError, BlockDelta, BlockStart, ErrorKind, MessageAccumulator
from .attachment_blocks import has_attachments, materialise
from .frames import (
    completed_frame,
    conversation_updated_frame,
    delta_frame,
    encode,
    reply_completed_frame,
    snapshot_frame,
    tool_result_frame,
)
from .models import Message
from .prompt import build_request
from .upstream import get_client

log = logging.getLogger(__name__)

# Delta kinds a reader sees; signatures stay on the server.
_FIELD_OF_KIND = {"text": "text", "thinking": "thinking", "tool_input": "partial_json"}
MAINTENANCE_SECONDS = 10.0
READ_WAIT_SECONDS = 0.002  # an event that took longer than this came from an empty socket
INTERRUPTED_ERROR = settlement.INTERRUPTED_ERROR


def group_name(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


class Subscriber(Protocol):
    async def deliver(self, text: str) -> None: ...


@dataclass
class PendingDelta:
    """Text for one block not sent yet: consecutive deltas of a block leave as one frame."""

    index: int
    kind: str
    pieces: list[str]


@dataclass(eq=False)
class Generation:
    """One reply being written: what has been sent to readers, and what waits to be."""

    message_id: int
    conversation_id: int
    call_id: int | None = None  # the upstream call it holds and will be charged for
    task: asyncio.Task | None = None
    seq: int = 0
    blocks: list[dict] = field(default_factory=list)  # content as sent so far, by block index
    pending: list[PendingDelta] = field(default_factory=list)  # not yet sent
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    flush_timer: asyncio.TimerHandle | None = None
    last_flush: float = 0.0
    checkpointed_seq: int = 0
    stop_requested: bool = False
    finishing: bool = False
    model: str = ""
    request: dict | None = None
    accumulator: MessageAccumulator = field(default_factory=MessageAccumulator)
    # The reply's stored blocks when this call began (a prefill, or the text Continue goes on
    # from): the call's block i is the reply's block offset + i, its first text block
    # joining the stored last one (decision 61).
    base: list[dict] = field(default_factory=list)
    offset: int = 0
    # A tool loop (decision 78): the upstream calls made so far, whose member the tools serve,
    # and the reply's blocks when it ended between two rounds (no call of its own to finish).
    rounds: int = 1
    user_id: int | None = None
    ended_between_rounds: list[dict] | None = None

    def snapshot(self) -> list[dict]:
        return [dict(b) for b in self.blocks]

    def begin_at(self, base: list[dict], seq: int) -> None:
        self.base = [dict(b) for b in base]
        self.blocks = [dict(b) for b in base]
        self.seq = self.checkpointed_seq = seq
        self.offset = len(base) - 1 if self._joins_last() else len(base)

    def _joins_last(self) -> bool:
        return bool(self.base) and self.base[-1].get("type") == "text"

    def local_index(self, index: int, kind: str = "text") -> int:
        """Where the call's block `index` goes in the reply; a non-text first block does not
        join the stored text but follows it."""
        if index == 0 and kind != "text" and self.offset == len(self.base) - 1 and self.base:
            self.offset = len(self.base)
        return self.offset + index

    def final_content(self) -> list[dict]:
        """The reply's blocks: the stored ones, then this call's, the first text joined."""
        if self.ended_between_rounds is not None:
            return [dict(b) for b in self.ended_between_rounds]
        new = self.accumulator.content
        if not new:
            return self.snapshot()
        if not self.base:
            return new
        blocks = [dict(b) for b in self.base]
        if self.offset == len(blocks) - 1 and new[0].get("type") == "text":
            blocks[-1]["text"] = blocks[-1].get("text", "") + new[0].get("text", "")
            new = new[1:]
        return blocks + new


class GenerationRunner:
    """Owns every reply this process is writing; sockets subscribe to conversations."""

    def __init__(self, client_factory: Callable = get_client) -> None:
        self.client_factory = client_factory
        self.generations: dict[int, Generation] = {}
        self.subscribers: dict[int, set[Subscriber]] = {}
        self.layer = get_channel_layer()
        # With the in-memory layer there is no other process to reach.
        self.cross_process = not isinstance(self.layer, InMemoryChannelLayer)
        self._background: set[asyncio.Task] = set()
        self._finishing: set[asyncio.Future] = set()
        # Title calls in flight (decision 72), by conversation; their upstream calls' ids.
        self.titles: dict[int, asyncio.Task] = {}
        self._title_calls: set[int] = set()
        # Read once: these are consulted for every upstream event.
        self.coalesce = settings.STREAM_COALESCE_SECONDS
        self.read_pause = self.coalesce / 2
        self.checkpoint_every = settings.STREAM_CHECKPOINT_SECONDS
        self._maintenance: asyncio.Task | None = None
        # By conversation: (whether a socket of another process follows it, when that was read).
        self._remote_readers: dict[int, tuple[bool, float]] = {}

    # -- subscriptions -------------------------------------------------------------------

    async def join(self, conversation_id: int, subscriber: Subscriber) -> dict[int, dict]:
        """Subscribe; returns {message_id: {"content", "seq"}} of this process's live replies.

        Pending deltas are flushed first, under each generation's lock, so the snapshot and
        the frames that follow it join exactly at `seq`.
        """
        snapshots = {}
        live = [g for g in self.generations.values() if g.conversation_id == conversation_id]
        for gen in live:
            async with gen.lock:
                await self._flush_locked(gen)
                snapshots[gen.message_id] = {"content": gen.snapshot(), "seq": gen.seq}
        self.subscribers.setdefault(conversation_id, set()).add(subscriber)
        return snapshots

    def leave(self, conversation_id: int, subscriber: Subscriber) -> None:
        subs = self.subscribers.get(conversation_id)
        if subs is not None:
            subs.discard(subscriber)
            if not subs:
                del self.subscribers[conversation_id]

    async def publish(self, conversation_id: int, frame: dict) -> None:
        """Send a frame to every socket on this conversation, in this process and others."""
        text = encode(frame)
        for subscriber in list(self.subscribers.get(conversation_id, ())):
            try:
                await subscriber.deliver(text)
            except Exception:  # a socket closing mid-send must not break the reply
                log.debug("dropping a subscriber that failed to receive", exc_info=True)
                self.leave(conversation_id, subscriber)
        if self.cross_process and await self._read_elsewhere(conversation_id, frame):
            try:
                await self.layer.group_send(
                    group_name(conversation_id),
                    {"type": "chat.frame", "text": text, "origin": settings.WORKER_ID},
                )
            except Exception:  # readers on other workers miss a frame; completed repairs it
                log.warning("frame for conversation %s not sent to other workers", conversation_id)

    async def _read_elsewhere(self, conversation_id: int, frame: dict) -> bool:
        """Whether a frame must go through the channel layer: always, but for deltas of a
        conversation no socket of another process follows (decision 103).

        Every socket joins its conversations' layer groups, this process's own too, so each
        delta went to Redis and came back to be dropped: ~670 layer commands per reply and
        most of a reply's CPU with Redis. Whether another process has a member is read from the
        group (its channel names carry their process's prefix) at most once a second per
        conversation; a socket of another process that joins while a reply streams asks this
        process for a snapshot, which marks the conversation at once (`_send_snapshot`), and
        every frame but deltas always goes (message.completed carries the whole reply).
        """
        if frame.get("type") != "message.delta":
            return True
        now = time.monotonic()
        known = self._remote_readers.get(conversation_id)
        if known is not None and now - known[1] < REMOTE_READERS_SECONDS:
            return known[0]
        elsewhere = await _members_elsewhere(self.layer, group_name(conversation_id))
        self._remote_readers[conversation_id] = (elsewhere, now)  # forgotten when it ends
        return elsewhere

    # -- generations ---------------------------------------------------------------------

    def start(
        self,
        message_id: int,
        conversation_id: int,
        request: dict | None = None,
        call_id: int | None = None,
        base: list[dict] | None = None,
        seq: int = 0,
    ) -> Generation:
        """Start writing a reply in a task owned by this process, not by any socket.

        `request` and `call_id`: the upstream request the send built and the call it admitted;
        without them, the request is built again and the reply's running call looked up.
        `base` and `seq`: the reply's stored blocks and seq, which this call continues.
        """
        self.ensure_maintenance()
        gen = Generation(message_id, conversation_id, call_id=call_id, request=request)
        gen.begin_at(base or [], seq)
        self.generations[message_id] = gen
        gen.task = asyncio.get_running_loop().create_task(
            self._run(gen), name=f"reply-{message_id}"
        )
        return gen

    def is_local(self, message_id: int) -> bool:
        return message_id in self.generations

    def stop(self, message_id: int) -> bool:
        """Stop a reply this process is writing; its partial content is kept."""
        gen = self.generations.get(message_id)
        if gen is None or gen.task is None or gen.task.done() or gen.finishing:
            return False  # a reply being stored is already over: cancelling would lose it
        gen.stop_requested = True
        gen.task.cancel()
        return True

    async def stop_anywhere(self, message_id: int, worker: str) -> None:
        """Stop a reply owned by this process, or ask the owning process over the layer."""
        if not self.stop(message_id) and self.cross_process and worker:
            await self.layer.send(worker, {"type": "generation.stop", "message": message_id})

    async def wait(self, message_id: int) -> None:
        """Wait until a reply has finished (tests and shutdown)."""
        gen = self.generations.get(message_id)
        if gen is not None and gen.task is not None:
            await asyncio.shield(gen.task)

    async def _run(self, gen: Generation) -> None:
        status, error = Message.Status.FAILED, None
        try:
            if gen.request is None or gen.call_id is None:
                gen.request, gen.call_id, base, seq = await database_sync_to_async(_load_request)(
                    gen.message_id
                )
                gen.begin_at(base, seq)
            request = gen.request
            if request is None:
                return  # deleted before it started
            gen.model = request["model"]
            if has_attachments(request):
                # Reading files and encoding images is blocking work: off the event loop,
                # after the send committed, before the stream opens.
                request = await asyncio.to_thread(materialise, request)
            async with aclosing(self.client_factory().stream(request)) as events:
                await self._consume(gen, events)
            while await self._next_round(gen):
                request = gen.request
                if has_attachments(request):
                    request = await asyncio.to_thread(materialise, request)
                async with aclosing(self.client_factory().stream(request)) as events:
                    await self._consume(gen, events)
            status = Message.Status.COMPLETE
        except asyncio.CancelledError:
            if not gen.stop_requested:
                await self._finish_shielded(gen, Message.Status.INTERRUPTED, INTERRUPTED_ERROR)
                raise
            status = Message.Status.STOPPED
        except AnthropicError as exc:
            error = {"code": str(exc.kind), "detail": exc.message}
            if exc.kind == ErrorKind.NOT_FOUND:
                error["model"] = gen.model  # "unknown or retired model X" names it
        except Exception:
            log.exception("reply %s failed", gen.message_id)
            error = {"code": "internal", "detail": "The server failed while writing this reply."}
        await self._finish_shielded(gen, status, error)

    async def _next_round(self, gen: Generation) -> bool:
        """After a call that ended in `tool_use` with tools on: run them, add their results to
        the reply, charge the round and admit the next; False when the reply ends here."""
        acc = gen.accumulator
        uses = tool_loop.tool_uses(acc.content)
        wanted = acc.stop_reason == "tool_use" and uses and (gen.request or {}).get("tools")
        if not wanted:
            return False
        content = gen.final_content()
        if gen.rounds >= settings.TOOL_MAX_ROUNDS:
            return False  # ends as it is: stop_reason tool_use tells the loop was cut
        if gen.user_id is None:
            gen.user_id = await database_sync_to_async(tool_loop.user_of)(gen.message_id)
        results = await tool_loop.run_tools(uses, tool_loop.context_for(gen.user_id or 0))
        async with gen.lock:
            await self._flush_locked(gen)
            for result in results:
                gen.blocks.append(dict(result))
                gen.seq += 1
                frame = tool_result_frame(gen.message_id, gen.seq, len(gen.blocks) - 1, result)
                await self.publish(gen.conversation_id, frame)
        content = content + results
        pending = asyncio.ensure_future(
            _with_retries(
                tool_loop.next_round,
                gen.message_id,
                call_id=gen.call_id,
                content=content,
                seq=gen.seq,
                usage=acc.usage.as_dict(),
                complete=acc.complete,
                output_chars=settlement.streamed_chars(acc.content),
            )
        )
        try:
            following = await asyncio.shield(pending)
        except asyncio.CancelledError:
            self._begin_round(gen, content, await pending)  # the call it admitted is settled
            raise
        return self._begin_round(gen, content, following)

    def _begin_round(self, gen: Generation, content: list[dict], following) -> bool:
        if following.call_id is None:
            gen.call_id, gen.ended_between_rounds = None, content  # already charged
            return False
        gen.call_id, gen.request = following.call_id, following.request
        gen.rounds += 1
        gen.accumulator = MessageAccumulator()
        gen.begin_at(content, gen.seq)
        return True

    async def _finish_shielded(self, gen: Generation, status: str, error: dict | None) -> None:
        """Store the reply's end; a cancel arriving now (shutdown) must not stop it halfway."""
        task = asyncio.ensure_future(self._finish(gen, status, error))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        await asyncio.shield(task)

    async def _consume(self, gen: Generation, events: AsyncIterator) -> None:
        """Apply the upstream events to the reply, reading the socket in small batches.

        When an event had to be waited for, the socket was empty: pausing a moment before the
        next read lets the following tokens arrive together, so one wake-up of the event loop
        reads several events instead of one each (the coalescing window hides the pause).
        """
        while True:
            asked = time.monotonic()
            try:
                event = await anext(events)
            except StopAsyncIteration:
                return
            waited = time.monotonic() - asked
            gen.accumulator.feed(event)
            if type(event) is BlockDelta:
                if event.kind in _FIELD_OF_KIND:
                    index = gen.local_index(event.index, event.kind)
                    await self._add_delta(gen, index, event.kind, event.text)
                    if waited > READ_WAIT_SECONDS and gen.seq:
                        await asyncio.sleep(self.read_pause)
            elif type(event) is BlockStart:
                await self._add_block(gen, event.index, event.block)

    async def _add_block(self, gen: Generation, upstream_index: int, block: dict) -> None:
        kind = block.get("type", "text")
        index = gen.local_index(upstream_index, kind)
        async with gen.lock:
            await self._flush_locked(gen)
            if index < len(gen.base):
                return  # the stored text this call continues: kept as it is
            while len(gen.blocks) <= index:
                gen.blocks.append({"type": "text", "text": ""})
            start = {"type": kind}
            if kind == "tool_use":
                start.update(id=block.get("id"), name=block.get("name"), partial_json="")
            elif kind in ("text", "thinking"):
                start[kind] = ""
            gen.blocks[index] = start

    async def _add_delta(self, gen: Generation, index: int, kind: str, text: str) -> None:
        pending = gen.pending
        if pending and pending[-1].index == index and pending[-1].kind == kind:
            pending[-1].pieces.append(text)
        else:
            pending.append(PendingDelta(index, kind, [text]))
        # The first delta goes out at once; later ones leave together every few tens of ms.
        due = gen.seq == 0 or time.monotonic() - gen.last_flush >= self.coalesce
        if due:
            async with gen.lock:
                await self._flush_locked(gen)
        elif gen.flush_timer is None:
            gen.flush_timer = asyncio.get_running_loop().call_later(
                self.coalesce, self._flush_soon, gen
            )

    def _flush_soon(self, gen: Generation) -> None:
        gen.flush_timer = None
        task = asyncio.get_running_loop().create_task(self._flush(gen))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _flush(self, gen: Generation) -> None:
        async with gen.lock:
            await self._flush_locked(gen)

    async def _flush_locked(self, gen: Generation) -> None:
        if gen.flush_timer is not None:
            gen.flush_timer.cancel()
            gen.flush_timer = None
        gen.last_flush = time.monotonic()
        pending, gen.pending = gen.pending, []
        for delta in pending:
            text, index = "".join(delta.pieces), delta.index
            while len(gen.blocks) <= index:
                gen.blocks.append({"type": "text", "text": ""})
            key = _FIELD_OF_KIND[delta.kind]
            first = not gen.blocks[index].get(key)
            gen.blocks[index][key] = gen.blocks[index].get(key, "") + text
            gen.seq += 1
            frame = delta_frame(gen.message_id, gen.seq, index, delta.kind, text)
            if first and delta.kind == "tool_input":  # the reader's fold names its tool
                frame |= {k: gen.blocks[index].get(k) for k in ("id", "name")}
            await self.publish(gen.conversation_id, frame)

    async def _checkpoint_loop(self) -> None:
        """Every STREAM_CHECKPOINT_SECONDS, store the partial content of every live reply.

        One transaction for all of this process's replies: per-reply writes cost a thread
        hop and a commit each, and grew with the number of streams (docs/performance.md).
        """
        while True:
            await asyncio.sleep(self.checkpoint_every)
            try:
                await self._checkpoint_all()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next second tries again
                log.exception("checkpoint failed")

    async def _checkpoint_all(self) -> None:
        batch, idle = [], []
        for gen in list(self.generations.values()):
            if gen.finishing:
                continue
            if gen.seq == gen.checkpointed_seq and not gen.pending:
                idle.append(gen.message_id)  # only asked whether it still exists
                continue
            async with gen.lock:
                await self._flush_locked(gen)
                usage = gen.accumulator.usage.as_dict()
                batch.append(
                    settlement.ReplyCheckpoint(gen.message_id, gen.snapshot(), gen.seq, usage)
                )
                gen.checkpointed_seq = gen.seq
        if batch or idle:
            gone = await database_sync_to_async(settlement.checkpoint_replies)(batch, idle)
            for message_id in gone:
                # Deleted (by the admin, say) or reaped by another worker: end the upstream
                # call now; finishing charges it from this runner's usage.
                self.stop(message_id)

    async def _finish(self, gen: Generation, status: str, error: dict | None) -> None:
        gen.finishing = True
        acc = gen.accumulator
        try:
            async with gen.lock:
                await self._flush_locked(gen)
            content = gen.final_content()
            usage = acc.usage.as_dict()
            finished = await _with_retries(
                settlement.finish_reply,
                gen.message_id,
                call_id=gen.call_id,
                status=status,
                content=content,
                seq=gen.seq,
                stop_reason=acc.stop_reason,
                stop_sequence=acc.stop_sequence,
                usage=usage,
                error=error,
                complete=acc.complete,
                # This call's output only: the stored blocks it continued were charged before.
                output_chars=settlement.streamed_chars(acc.content),
            )
            if finished.outcome == "deleted":
                # Readers still on the page (the admin deleted it) see the reply end.
                status, error = Message.Status.STOPPED, settlement.DELETED_ERROR
            if finished.wants_title:
                # Registered before the reply's end is told: a reader can wait for it.
                self.start_title(gen.conversation_id, gen.message_id)
            if finished.outcome in ("stored", "deleted"):
                # Cut at max_tokens: say whether the quota had lowered it (one read, rare).
                lowered = acc.stop_reason == "max_tokens" and finished.outcome == "stored"
                try:
                    if lowered:
                        quota_cut = database_sync_to_async(selectors.quota_cut_of)
                        lowered = await quota_cut(gen.message_id)
                except DatabaseError:
                    lowered = False  # the note is a nicety: the reply's end must still go out
                frame = reply_completed_frame(
                    gen.message_id,
                    status=status,
                    stop_reason=acc.stop_reason,
                    stop_sequence=acc.stop_sequence,
                    usage=finished.usage,
                    cost=finished.cost,
                    error=error,
                    content=content,
                    seq=gen.seq,
                    max_tokens=(gen.request or {}).get("max_tokens"),
                    max_tokens_lowered=lowered,
                )
                await self.publish(gen.conversation_id, frame)
        finally:
            self.generations.pop(gen.message_id, None)
            # Deltas come only from a live reply, and one reply of a conversation runs at once.
            self._remote_readers.pop(gen.conversation_id, None)

    # -- titles --------------------------------------------------------------------------

    def start_title(self, conversation_id: int, reply_id: int) -> asyncio.Task:
        """Write the conversation's title in a task of its own, off the reply's path."""
        self.ensure_maintenance()
        task = asyncio.get_running_loop().create_task(
            self._write_title(conversation_id, reply_id), name=f"title-{conversation_id}"
        )
        self.titles[conversation_id] = task

        def forget(done: asyncio.Task) -> None:
            if self.titles.get(conversation_id) is done:
                del self.titles[conversation_id]

        task.add_done_callback(forget)
        return task

    async def wait_title(self, conversation_id: int) -> None:
        """Wait until the conversation's title call, if one runs, has ended (tests, shutdown)."""
        task = self.titles.get(conversation_id)
        if task is not None:
            await asyncio.shield(task)

    async def _write_title(self, conversation_id: int, reply_id: int) -> None:
        begin = asyncio.ensure_future(
            database_sync_to_async(titles.begin_title)(conversation_id, reply_id)
        )
        try:
            call = await asyncio.shield(begin)
        except asyncio.CancelledError:
            # The admission may be committing in its thread: a call it opened is settled here.
            call = await asyncio.gather(begin, return_exceptions=True)
            if isinstance(call[0], titles.TitleCall):
                await self._finish_title(call[0], None, settlement.INTERRUPTED_ERROR)
            raise
        except Exception:  # no title: the first words stay
            log.exception("preparing the title of conversation %s failed", conversation_id)
            return
        if call is None:
            return  # no title model, the quota is short, or the chat was renamed
        self._title_calls.add(call.call_id)
        answer, error = None, None
        try:
            answer = await self.client_factory().create(call.request)
        except asyncio.CancelledError:
            await self._finish_title(call, None, settlement.INTERRUPTED_ERROR)
            raise
        except AnthropicError as exc:
            error = {"code": str(exc.kind), "detail": exc.message}
        except Exception:
            log.exception("the title call of conversation %s failed", conversation_id)
            error = {"code": "internal", "detail": "The server failed while writing a title."}
        title = await self._finish_title(call, answer, error)
        if title:
            await self.publish(conversation_id, conversation_updated_frame(conversation_id, title))

    async def _finish_title(
        self, call: titles.TitleCall, answer: dict | None, error: dict | None
    ) -> str | None:
        """Settle the title call (shielded: a shutdown must not leave its hold open)."""
        task = asyncio.ensure_future(_with_retries(titles.finish_title, call, answer, error=error))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        try:
            return await asyncio.shield(task)
        finally:
            self._title_calls.discard(call.call_id)

    # -- maintenance ---------------------------------------------------------------------

    def ensure_maintenance(self) -> None:
        if self._maintenance is None or self._maintenance.done():
            loop = asyncio.get_running_loop()
            self._maintenance = loop.create_task(self._maintain())
            checkpoints = loop.create_task(self._checkpoint_loop())
            self._background.add(checkpoints)

    async def _maintain(self) -> None:
        """Refresh our replies' heartbeats, reap dead processes' replies, take stop requests."""
        if self.cross_process:
            listener = asyncio.get_running_loop().create_task(self._listen())
            self._background.add(listener)
        while True:
            await asyncio.sleep(MAINTENANCE_SECONDS)
            try:
                gens = list(self.generations.values())
                calls = [g.call_id for g in gens if g.call_id] + list(self._title_calls)
                reaped = await database_sync_to_async(_heartbeat_and_reap)(
                    [g.message_id for g in gens], calls
                )
                await self.announce_interrupted(reaped)
            except Exception:
                log.exception("reply maintenance failed")

    async def announce_interrupted(self, messages: list[Message]) -> None:
        """Tell readers that replies of a dead process ended, so no page waits forever."""
        for message in messages:
            frame = completed_frame(message)
            await self.publish(message.conversation_id, frame)

    async def _listen(self) -> None:
        """Requests from other processes: stop a reply we own, or send a reader its snapshot."""
        while True:
            try:
                message = await self.layer.receive(settings.WORKER_ID)
                if message.get("type") == "generation.stop":
                    self.stop(message.get("message"))
                elif message.get("type") == "generation.snapshot":
                    await self._send_snapshot(message)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad request or a Redis hiccup must not end the listener
                log.exception("cross-process request failed")
                await asyncio.sleep(1)

    async def _send_snapshot(self, request: dict) -> None:
        gen = self.generations.get(request.get("message"))
        if gen is None:
            return  # finished meanwhile: its completed frame carries the whole content
        # A socket of another process follows it now: its deltas go through the layer.
        self._remote_readers[gen.conversation_id] = (True, time.monotonic())
        async with gen.lock:
            await self._flush_locked(gen)
            frame = snapshot_frame(gen.message_id, gen.snapshot(), gen.seq)
            # Sent under the lock: no delta can be flushed between the snapshot and its send.
            await self.layer.send(
                request["reply_to"], {"type": "chat.frame", "text": encode(frame), "origin": ""}
            )

    async def request_snapshot(self, message: Message, reply_to: str) -> None:
        """Ask the process writing `message` for its exact state (sent to `reply_to`)."""
        if self.cross_process and message.worker:
            await self.layer.send(
                message.worker,
                {"type": "generation.snapshot", "message": message.pk, "reply_to": reply_to},
            )

    async def shutdown(self) -> None:
        """Cancel background tasks and replies (the replies are stored as interrupted)."""
        tasks = [g.task for g in self.generations.values() if g.task]
        tasks += [
            *self.titles.values(),
            *self._background,
            *([self._maintenance] if self._maintenance else []),
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*self._finishing, return_exceptions=True)


REMOTE_READERS_SECONDS = 1.0


async def _members_elsewhere(layer, group: str) -> bool:
    """Whether the layer group has a member of another process: channels_redis names a
    process's channels "specific.<its client prefix>!…" (channels_redis is pinned). With
    another layer, or when Redis fails, the answer is yes: the frame is sent as it always was."""
    prefix = getattr(layer, "client_prefix", None)
    if prefix is None:
        return True
    try:
        connection = layer.connection(layer.consistent_hash(group))
        members = await connection.zrange(layer._group_key(group), 0, -1)
    except Exception:
        return True
    own = f"specific.{prefix}!".encode()
    return any(not member.startswith(own) for member in members)


FINISH_ATTEMPTS = 5


async def _with_retries(function: Callable, *args, **kwargs):
    """Run a final write on the database thread, again after a passing failure (SQLite's
    "database is locked", a dropped connection): losing it would leave the reply to the reaper,
    charged from an older checkpoint."""
    for attempt in range(FINISH_ATTEMPTS):
        try:
            return await database_sync_to_async(function)(*args, **kwargs)
        except DatabaseError:
            if attempt == FINISH_ATTEMPTS - 1:
                raise
            log.warning("storing the end of a reply failed; trying again", exc_info=True)
            await asyncio.sleep(0.1 * 2**attempt)


async def stop_replies(replies: list[services.StreamingReply]) -> None:
    """Stop replies, each on the worker writing it."""
    runner = get_runner()
    for reply in replies:
        await runner.stop_anywhere(reply.message_id, reply.worker)


async def publish(conversation_id: int, frame: dict) -> None:
    """Send a frame to the conversation's sockets from outside a reply (a page's rename)."""
    await get_runner().publish(conversation_id, frame)


def _load_request(message_id: int) -> tuple[dict | None, int | None, list[dict], int]:
    """The request of a reply started without one, its running call, its blocks and seq."""
    reply = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if reply is None:
        return None, None, [], 0
    call_id = (
        reply.calls.filter(status=UpstreamCall.Status.RUNNING)
        .order_by("-id")
        .values_list("pk", flat=True)
        .first()
    )
    return build_request(reply), call_id, reply.content, reply.seq


def _heartbeat_and_reap(message_ids: list[int], call_ids: list[int]) -> list[Message]:
    if message_ids or call_ids:
        settlement.touch_replies(message_ids, call_ids)
    return settlement.reap_interrupted()


_runners: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GenerationRunner]" = (
    weakref.WeakKeyDictionary()
)


def get_runner() -> GenerationRunner:
    """The runner of the running event loop: one per process in production (tests make more)."""
    loop = asyncio.get_running_loop()
    runner = _runners.get(loop)
    if runner is None:
        runner = _runners[loop] = GenerationRunner()
    return runner
