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
    async def open(cls, user=None, *, origin: str = "http://127.0.0.1:8000", lang: str = "en"):
        headers = [(b"origin", origin.encode()), (b"accept-language", lang.encode())]
        if user is not None:
            headers.append((b"cookie", f"sessionid={await session_cookie(user)}".encode()))
        communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        connected, code = await communicator.connect()
        socket = cls(communicator)
        socket.connected, socket.code = connected, code
        return socket

    async def send(self, frame) -> None:
        if isinstance(frame, str):
            await self.communicator.send_to(text_data=frame)
        else:
            await self.communicator.send_to(text_data=json.dumps(frame))

    async def receive(self, timeout: float = 5) -> dict:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def receive_until(self, frame_type: str, timeout: float = 10) -> list[dict]:
        """Every frame up to and including the first of `frame_type`."""
        frames = []
        while True:
            frame = await self.receive(timeout)
            frames.append(frame)
            if frame["type"] == frame_type:
                return frames

    async def close(self) -> None:
        await self.communicator.disconnect()
