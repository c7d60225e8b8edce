"""`python -m bench --attachments`: the added cost of a send carrying one 1 MB image.

One Daphne on SQLite and the fake upstream, as the main benchmark starts them; one signed-in
user sends, one at a time, a text-only message and a message with a freshly uploaded 1 MB JPEG
(2400 × 1600, so the server scales it to 1568 px before sending). For each kind it reports the
time to first delta and the server's CPU per send (read from /proc around each send), and the
upload's own time and CPU. Each send starts a new conversation, so no history is resent.
"""

import argparse
import asyncio
import io
import json
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from . import stack

TARGET_BYTES = 1_000_000


def one_megabyte_jpeg() -> bytes:
    """A photo-like JPEG of about 1 MB: noise over a gradient, at the quality that gets there."""
    from PIL import Image

    size = (2400, 1600)
    noise = Image.effect_noise(size, 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    image = Image.blend(noise, gradient, 0.5)
    best = b""
    for quality in range(30, 96, 5):
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        best = out.getvalue()
        if len(best) >= TARGET_BYTES:
            break
    return best


async def one_send(url: str, origin: str, cookie: str, tokens: int, ids: list[int]) -> float:
    """Send on a new socket; returns the milliseconds from the send to the first delta."""
    async with connect(
        url, origin=origin, additional_headers={"Cookie": cookie}, max_size=2**24
    ) as ws:
        frame = {"type": "send", "conversation": None, "attachments": ids, "client_id": "b"}
        frame["text"] = f"bench !tokens={tokens}"
        sent = time.perf_counter()
        await ws.send(json.dumps(frame))
        first = None
        async for raw in ws:
            data = json.loads(raw)
            if data["type"] == "message.delta" and first is None:
                first = (time.perf_counter() - sent) * 1000
            elif data["type"] == "error":
                raise RuntimeError(f"send refused: {data}")
            elif data["type"] == "message.completed":
                if data["status"] != "complete":
                    raise RuntimeError(f"reply {data['status']}: {data['error']}")
                return first if first is not None else float("nan")
    raise RuntimeError("socket closed before message.completed")


def upload(http: httpx.Client, data: bytes) -> int:
    token = http.cookies["csrftoken"]
    response = http.post(
        "/attachments/",
        files={"file": ("photo.jpg", data, "image/jpeg")},
        headers={"X-CSRFToken": token},
    )
    if response.status_code != 201:
        raise RuntimeError(f"upload failed: HTTP {response.status_code} {response.text[:300]}")
    return response.json()["id"]


def measure(server_pid: int, base_url: str, cookie: str, rounds: int, tokens: int) -> dict:
    image = one_megabyte_jpeg()
    ws_url = base_url.replace("http://", "ws://") + "/ws/chat/"
    session = cookie.split("=", 1)[1]
    rows: dict[str, dict[str, list[float]]] = {
        kind: {"ttfd": [], "cpu": [], "ms": []} for kind in ("text", "image", "upload")
    }
    with httpx.Client(base_url=base_url, cookies={"sessionid": session}, timeout=60) as http:
        http.get("/").raise_for_status()  # the CSRF cookie
        for i in range(rounds + 2):  # two warm-up rounds (lazy imports, the upstream pool)
            for kind in ("text", "image"):
                ids = []
                if kind == "image":
                    cpu0, t0 = stack.cpu_seconds(server_pid), time.perf_counter()
                    ids = [upload(http, image)]
                    upload_ms = (time.perf_counter() - t0) * 1000
                    upload_cpu = stack.cpu_seconds(server_pid) - cpu0
                cpu0 = stack.cpu_seconds(server_pid)
                ttfd = asyncio.run(one_send(ws_url, base_url, cookie, tokens, ids))
                time.sleep(0.2)  # the reply's settlement, after message.completed
                cpu = stack.cpu_seconds(server_pid) - cpu0
                if i < 2:
                    continue
                rows[kind]["ttfd"].append(ttfd)
                rows[kind]["cpu"].append(cpu)
                if kind == "image":
                    rows["upload"]["ms"].append(upload_ms)
                    rows["upload"]["cpu"].append(upload_cpu)
    return {"image_bytes": len(image), "rounds": rounds, "tokens": tokens, "rows": rows}


def render(result: dict) -> str:
    rows = result["rows"]

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def mean_ms(values: list[float]) -> float:
        return 1000 * statistics.fmean(values) if values else float("nan")

    text_ttfd, image_ttfd = med(rows["text"]["ttfd"]), med(rows["image"]["ttfd"])
    text_cpu, image_cpu = mean_ms(rows["text"]["cpu"]), mean_ms(rows["image"]["cpu"])
    lines = [
        f"## Attachments: one {result['image_bytes'] / 1e6:.2f} MB JPEG (2400 × 1600) per send",
        "",
        f"{result['rounds']} sends of each kind, one at a time, {result['tokens']} tokens a reply; "
        "server CPU from /proc around each send (the 200 ms after its end included, at 10 ms "
        "resolution, so read it as a mean).",
        "",
        "| send | time to first delta, p50 | server CPU per send, mean |",
        "|---|---|---|",
        f"| text only | {text_ttfd:.1f} ms | {text_cpu:.1f} ms |",
        f"| with the image | {image_ttfd:.1f} ms | {image_cpu:.1f} ms |",
        f"| added by the image | {image_ttfd - text_ttfd:+.1f} ms "
        f"| {image_cpu - text_cpu:+.1f} ms |",
        "",
        f"The upload itself (`POST /attachments/`, before the send): p50 "
        f"{med(rows['upload']['ms']):.1f} ms, "
        f"server CPU mean {mean_ms(rows['upload']['cpu']):.1f} ms.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from .__main__ import PASSWORD, RESULTS, http_login, log, manage, server_env

    parser = argparse.ArgumentParser(prog="python -m bench --attachments")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--out", default=str(RESULTS / "attachments.md"))
    args = parser.parse_args(argv)
    with ExitStack() as stack_:
        workdir = Path(stack_.enter_context(tempfile.TemporaryDirectory(prefix="chatsite-att-")))
        upstream, upstream_url = stack.fake_upstream(workdir, 50.0, 10.0)
        stack_.callback(upstream.stop)
        env = server_env(workdir / "data", workdir / "static", upstream_url)
        env["CHAT_SENDS_PER_MINUTE"] = "0"  # back-to-back sends: a script, not a person
        log("attachments: collectstatic, migrate, a user")
        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        manage(env, "migrate", "--noinput", "--verbosity", "0")
        create = (
            "from accounts.models import User; "
            f"User.objects.create_user('bench-att', password='{PASSWORD}')"
        )
        manage(env, "shell", "-c", create)
        server, base_url = stack.daphne(env, workdir, 0)
        stack_.callback(server.stop)
        cookie = http_login(base_url, "bench-att")
        log(f"attachments: {args.rounds} text and {args.rounds} image sends")
        result = measure(server.pid, base_url, cookie, args.rounds, args.tokens)
    text = render(result)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    return 0
