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


def one_megabyte_jpegs(count: int) -> list[bytes]:
    """Distinct photo-like JPEGs of about 1 MB: noise over a gradient, at the quality that gets
    there. Distinct, so no send reuses an image the server already prepared (a later turn's
    resend does, and costs less: not measured here)."""
    from PIL import Image

    size = (2400, 1600)
    noise = Image.effect_noise(size, 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    image = Image.blend(noise, gradient, 0.5)
    quality = 30
    while quality < 95:
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        if out.tell() >= TARGET_BYTES:
            break
        quality += 5
    images = []
    for i in range(count):
        image.putpixel((i % size[0], 0), (i % 256, 0, 0))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        images.append(out.getvalue())
    return images


async def one_send(
    url: str, origin: str, cookie: str, tokens: int, ids: list[int], conversation: int | None
) -> tuple[float, int]:
    """Send on a new socket; returns the milliseconds to the first delta and the conversation."""
    async with connect(
        url, origin=origin, additional_headers={"Cookie": cookie}, max_size=2**24
    ) as ws:
        frame = {"type": "send", "conversation": conversation, "attachments": ids}
        frame.update(client_id="b", text=f"bench !tokens={tokens}")
        sent = time.perf_counter()
        await ws.send(json.dumps(frame))
        first = None
        async for raw in ws:
            data = json.loads(raw)
            if data["type"] == "message.delta" and first is None:
                first = (time.perf_counter() - sent) * 1000
            elif data["type"] == "message.created":
                conversation = data["message"]["conversation"]
            elif data["type"] == "error":
                raise RuntimeError(f"send refused: {data}")
            elif data["type"] == "message.completed":
                if data["status"] != "complete":
                    raise RuntimeError(f"reply {data['status']}: {data['error']}")
                assert conversation is not None
                return (first if first is not None else float("nan")), conversation
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
    images = one_megabyte_jpegs(rounds + 2)
    ws_url = base_url.replace("http://", "ws://") + "/ws/chat/"
    session = cookie.split("=", 1)[1]
    kinds = ("text", "image", "text_later", "image_later", "upload")
    rows: dict[str, dict[str, list[float]]] = {
        kind: {"ttfd": [], "cpu": [], "ms": []} for kind in kinds
    }
    with httpx.Client(base_url=base_url, cookies={"sessionid": session}, timeout=60) as http:
        http.get("/").raise_for_status()  # the CSRF cookie
        for i in range(rounds + 2):  # two warm-up rounds (lazy imports, the upstream pool)
            for kind in ("text", "image"):
                ids = []
                if kind == "image":
                    cpu0, t0 = stack.cpu_seconds(server_pid), time.perf_counter()
                    ids = [upload(http, images[i])]
                    upload_ms = (time.perf_counter() - t0) * 1000
                    upload_cpu = stack.cpu_seconds(server_pid) - cpu0
                conversation = None
                # The first turn, then a later one in the same conversation (the image again).
                for turn in (kind, f"{kind}_later"):
                    cpu0 = stack.cpu_seconds(server_pid)
                    sent = one_send(ws_url, base_url, cookie, tokens, ids, conversation)
                    ttfd, conversation = asyncio.run(sent)
                    ids = []
                    time.sleep(0.2)  # the reply's settlement, after message.completed
                    if i >= 2:
                        rows[turn]["ttfd"].append(ttfd)
                        rows[turn]["cpu"].append(stack.cpu_seconds(server_pid) - cpu0)
                if kind == "image" and i >= 2:
                    rows["upload"]["ms"].append(upload_ms)
                    rows["upload"]["cpu"].append(upload_cpu)
    size = statistics.fmean(len(image) for image in images)
    return {"image_bytes": size, "rounds": rounds, "tokens": tokens, "rows": rows}


def render(result: dict) -> str:
    rows = result["rows"]

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def mean_ms(values: list[float]) -> float:
        return 1000 * statistics.fmean(values) if values else float("nan")

    def pair(base: str, other: str, label: str) -> list[str]:
        ttfd, ttfd2 = med(rows[base]["ttfd"]), med(rows[other]["ttfd"])
        cpu, cpu2 = mean_ms(rows[base]["cpu"]), mean_ms(rows[other]["cpu"])
        return [
            f"| {label}: text only | {ttfd:.1f} ms | {cpu:.1f} ms |",
            f"| {label}: with the image | {ttfd2:.1f} ms | {cpu2:.1f} ms |",
            f"| {label}: added by the image | {ttfd2 - ttfd:+.1f} ms | {cpu2 - cpu:+.1f} ms |",
        ]

    lines = [
        f"## Attachments: one {result['image_bytes'] / 1e6:.2f} MB JPEG (2400 × 1600) per send",
        "",
        f"{result['rounds']} conversations of each kind, two turns each, one send at a time, "
        f"{result['tokens']} tokens a reply (the next turn sends the image again, as prepared "
        "on the first); "
        "server CPU from /proc around each send (the 200 ms after its end included, at 10 ms "
        "resolution, so read it as a mean).",
        "",
        "| send | time to first delta, p50 | server CPU per send, mean |",
        "|---|---|---|",
        *pair("text", "image", "first turn"),
        *pair("text_later", "image_later", "next turn (resent)"),
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
