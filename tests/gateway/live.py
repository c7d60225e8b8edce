"""A small HTTP/1.1 server for the ASGI app, in a thread of its own, for the gateway's tests.

Daphne runs the app in production; in a test it would need its own process and database. This
server shares the test's database and settings, streams a response's chunks as the app sends
them, and tells the app when its client disconnects (`http.disconnect`), as Daphne does. One
request per connection (`connection: close`), which every HTTP client handles.
"""

import asyncio
import threading
from urllib.parse import unquote

from conversations.upstream import close_client


class LiveServer:
    def __init__(self, app) -> None:
        self.app = app
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveServer":
        ready = threading.Event()

        async def serve() -> None:
            self.loop, self._stopped = asyncio.get_running_loop(), asyncio.Event()
            server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stopped.wait()
            server.close()
            await close_client()

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stopped is not None:
            self.loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(10)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers.append((name.strip().lower().encode(), value.strip().encode("latin-1")))
        length = int(dict(headers).get(b"content-length", b"0"))
        body = await reader.readexactly(length)
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", self.port),
        }
        gone = asyncio.ensure_future(reader.read())  # EOF: the client closed the connection
        delivered = False

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.shield(gone)
            return {"type": "http.disconnect"}

        chunked = False

        async def send(message: dict) -> None:
            nonlocal chunked
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                chunked = b"content-length" not in names
                out = [f"HTTP/1.1 {message['status']} X".encode()]
                out += [b"%s: %s" % (n, v) for n, v in message.get("headers", [])]
                if chunked:
                    out.append(b"transfer-encoding: chunked")
                out.append(b"connection: close")
                writer.write(b"\r\n".join(out) + b"\r\n\r\n")
                return
            data = message.get("body", b"")
            if chunked and data:
                writer.write(b"%x\r\n%b\r\n" % (len(data), data))
            elif data:
                writer.write(data)
            if not message.get("more_body", False) and chunked:
                writer.write(b"0\r\n\r\n")
            if not writer.transport.is_closing():
                await writer.drain()

        try:
            await self.app(scope, receive, send)
        except ConnectionError:
            pass
        finally:
            gone.cancel()
            writer.close()
