"""A small WebSocket test client: signs a user in and speaks contract v1 to the real ASGI app."""

import json

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chatsite.asgi import application


async def session_cookie(user) -> str:
    def login() -> str:
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    return await sync_to_async(login)()


class ChatSocket:
    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    @classmethod
    async def open(
        cls,
        user=None,
        *,
        origin: str | None = "http://127.0.0.1:8000",
        lang: str = "en",
        session: str | None = None,
    ):
        """A socket signed in as `user` (a new session), or on an existing `session` key."""
        headers = [(b"accept-language", lang.encode())]
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        if user is not None:
            session = await session_cookie(user)
        if session is not None:
            headers.append((b"cookie", f"sessionid={session}".encode()))
        communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        connected, code = await communicator.connect(timeout=5)
        socket = cls(communicator)
        socket.connected, socket.code = connected, code
        return socket

    async def send(self, frame) -> None:
        if isinstance(frame, str):
            await self.communicator.send_to(text_data=frame)
        elif isinstance(frame, bytes):
            await self.communicator.send_to(bytes_data=frame)
        else:
            await self.communicator.send_to(text_data=json.dumps(frame))

    async def send_text(
        self, text: str, conversation: int | None = None, client_id: str = "c1"
    ) -> None:
        """A `send` frame: a user message to a conversation (None: a new one)."""
        frame = {"type": "send", "conversation": conversation, "text": text}
        await self.send({**frame, "attachments": [], "client_id": client_id})

    async def receive(self, timeout: float = 5) -> dict:
        text = await self.communicator.receive_from(timeout=timeout)
        # Daphne encodes every frame as UTF-8: one it cannot encode closes the socket (1011).
        text.encode("utf-8")
        return json.loads(text)

    async def receive_until(self, frame_type: str, timeout: float = 10) -> list[dict]:
        """Every frame up to and including the first of `frame_type`."""
        frames = []
        while True:
            frame = await self.receive(timeout)
            frames.append(frame)
            if frame["type"] == frame_type:
                return frames

    async def receive_deltas(self, count: int, timeout: float = 10) -> list[dict]:
        """Every frame up to and including the `count`th message.delta."""
        frames = []
        while sum(f["type"] == "message.delta" for f in frames) < count:
            frames.append(await self.receive(timeout))
        return frames

    async def receive_close(self, timeout: float = 5) -> int | None:
        """The close code the server sent (after skipping any text frames)."""
        while True:
            output = await self.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                return output.get("code", 1000)

    async def receive_nothing(self, timeout: float = 0.1) -> bool:
        return await self.communicator.receive_nothing(timeout)

    async def close(self) -> None:
        # A communicator whose app already ended (closed, refused) has nothing to disconnect.
        if not self.communicator.future.done():
            await self.communicator.disconnect()


def deltas(frames: list[dict], message_id: int | None = None) -> list[dict]:
    return [
        f for f in frames if f["type"] == "message.delta" and message_id in (None, f["message"])
    ]


def text_of(frames: list[dict], message_id: int | None = None) -> str:
    """The text the socket saw streaming for a message: its deltas, concatenated."""
    return "".join(f["text"] for f in deltas(frames, message_id) if f["kind"] == "text")


def created(frames: list[dict], role: str) -> dict:
    """The payload of the message.created frame for `role`."""
    return next(
        f["message"]
        for f in frames
        if f["type"] == "message.created" and f["message"]["role"] == role
    )
