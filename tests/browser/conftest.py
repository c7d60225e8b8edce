"""Browser tier fixtures: the app under Daphne, the fake upstream, Chromium, signed-up users."""

import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from conversations.fake_upstream import FakeUpstream
from tests.waiting import wait_until

BASE_DIR = Path(__file__).resolve().parents[2]
ARTIFACTS = BASE_DIR / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
API_KEY = "sk-ant-browser-SECRET"
PASSWORD = "plum-Orchard-7-kettle"
DEFAULT_TIMEOUT_MS = 10_000
SERVER_START_SECONDS = 30

_reports = pytest.StashKey[dict]()
_usernames = itertools.count(1)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Kept on the item so fixture teardown knows whether the test body failed (screenshots).
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # what manage.py needs to reach its data

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="package")
def browser_upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(ttft=0.05, token_delay=0.02, api_key=API_KEY).start()
    yield server
    server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(data_dir: Path, upstream: FakeUpstream) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DEBUG", "CHAT_MODEL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="chatsite.settings",
        DATA_DIR=str(data_dir),
        STATIC_ROOT=str(data_dir / "static"),  # not the shared staticfiles/ others rebuild
        SIGNUP_MODE="open",
        ANTHROPIC_API_KEY=API_KEY,
        ANTHROPIC_BASE_URL=upstream.base_url,
        ANTHROPIC_READ_TIMEOUT="3",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        LOG_FORMAT="text",  # people read these logs, and tests look for " ERROR " in them
    )
    # No PASSWORD_HASHERS here: the live server hashes as deployed, so the sign-ups and
    # sign-ins of this tier exercise the production hasher the fast tiers replace with MD5.
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def _daphne_command(port: int) -> list[str]:
    daphne = Path(sys.executable).with_name("daphne")
    prefix = [str(daphne)] if daphne.exists() else [sys.executable, "-m", "daphne"]
    return [*prefix, "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"]


def _wait_for_port(port: int, process: subprocess.Popen, log_path: Path) -> None:
    def answering() -> bool:
        if process.poll() is not None:
            pytest.fail(f"daphne exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(answering, SERVER_START_SECONDS, every=0.1, what=f"daphne on port {port}")


def prepare_data(upstream: FakeUpstream, prefix: str, **extra_env: str) -> tuple[Path, dict]:
    """A fresh DATA_DIR, migrated and with static files collected; returns it and the env."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    env = _server_env(data_dir, upstream) | extra_env
    _manage(env, "migrate", "--noinput", "--verbosity", "0")
    _manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    # No title model: a chat's automatic title is one more upstream call and charge, which
    # would race each test's reading of the fake's requests and of the quota; the
    # `automatic_titles` fixture names one for the tests about titles (decision 72).
    set_title_model(env, None)
    return data_dir, env


def set_title_model(env: dict[str, str], model_id: str | None) -> None:
    """Make `model_id` the catalog's title model (None: no automatic titles), at run time."""
    code = (
        "from conversations.models import CatalogModel as M; "
        "M.objects.update(is_title_model=False); "
        f"M.objects.filter(model_id={model_id!r}).update(is_title_model=True)"
    )
    _manage(env, "shell", "--no-imports", "-c", code)


def start_daphne(env: dict[str, str], port: int, log_name: str) -> subprocess.Popen:
    """The app as it ships, on `port`, logging to test-artifacts/LOG_NAME.log."""
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"{log_name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            _daphne_command(port), cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    _wait_for_port(port, process, log_path)
    return process


def stop_process(process: subprocess.Popen | None) -> None:
    """End a process this test started, by its handle."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture(scope="package")
def chatsite_server(browser_upstream) -> Iterator[LiveServer]:
    """The app as it ships: migrate, collectstatic, then Daphne on a free port, fresh data."""
    data_dir, env = prepare_data(browser_upstream, "chatsite-browser-")
    port = _free_port()
    process = None
    try:
        process = start_daphne(env, port, "browser-server")
        log_path = ARTIFACTS / "browser-server.log"
        yield LiveServer(f"http://127.0.0.1:{port}", process, log_path, env)
    finally:
        stop_process(process)
        shutil.rmtree(data_dir, ignore_errors=True)
    log_path = ARTIFACTS / "browser-server.log"
    if API_KEY in log_path.read_text(errors="replace"):
        pytest.fail(f"the upstream API key appeared in the server log {log_path}")


@pytest.fixture
def automatic_titles(chatsite_server) -> Iterator[str]:
    """Automatic titles on for one test, written by Claude Haiku 4.5; off again after it."""
    model_id = "claude-haiku-4-5-20251001"
    set_title_model(chatsite_server.env, model_id)
    yield model_id
    set_title_model(chatsite_server.env, None)


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/ (gitignored): screenshots a test keeps on purpose."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Package scope: Playwright's sync API keeps an event loop running in this thread, so
    # it must be gone before the async tests of other packages run.
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class BrowserProblems:
    """Console errors and uncaught exceptions; a test may allow the ones it provokes."""

    seen: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        self.allowed.append(fragment)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.seen.append(f"console.error: {message.text} ({where})")

    def on_page_error(self, error: object) -> None:
        self.seen.append(f"uncaught: {error}")

    def unexpected(self) -> list[str]:
        return [p for p in self.seen if not any(a in p for a in self.allowed)]


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def new_context(
    browser, chatsite_server, browser_problems, request
) -> Iterator[Callable[..., BrowserContext]]:
    """Make contexts on the live server; on teardown: screenshots if failed, console check."""
    contexts: list[BrowserContext] = []

    def make(**options) -> BrowserContext:
        context = browser.new_context(base_url=chatsite_server.url, **options)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.on("console", browser_problems.on_console)
        context.on("weberror", lambda web_error: browser_problems.on_page_error(web_error.error))
        contexts.append(context)
        return context

    yield make

    reports = request.node.stash.get(_reports, {})
    if "call" in reports and reports["call"].failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for c, context in enumerate(contexts):
            for p, page in enumerate(context.pages):
                path = ARTIFACTS / f"{request.node.name}-{c}-{p}.png"
                try:
                    page.screenshot(path=str(path), full_page=True)
                except Exception as exc:  # a crashed page must not hide the real failure
                    print(f"screenshot {path} failed: {exc}", file=sys.stderr)
    for context in contexts:
        context.close()
    problems = browser_problems.unexpected()
    if problems:
        pytest.fail("unexpected browser errors:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(params=["en", "ja"])
def lang_page(request, new_context) -> Page:
    """A page in English, then in Japanese (its `lang` says which): one journey per language.

    The clipboard is granted: tests of Copy buttons read it back.
    """
    if request.param == "ja":
        context = new_context(locale="ja-JP", extra_http_headers={"Accept-Language": "ja"})
    else:
        context = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.lang = request.param
    return page


@pytest.fixture
def context(new_context) -> BrowserContext:
    return new_context()


@pytest.fixture
def page(context) -> Page:
    return context.new_page()


def _sign_up(page: Page, username: str) -> Page:
    page.goto("/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))
    return page


def unique_username(prefix: str = "user") -> str:
    return f"{prefix}-{next(_usernames)}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="package")
def first_account(browser, chatsite_server) -> dict:
    """The first account of the fresh database (the admin), made before any other sign-up."""
    context = browser.new_context(base_url=chatsite_server.url)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        username = unique_username("admin")
        _sign_up(context.new_page(), username)
        return {"username": username, "storage_state": context.storage_state()}
    finally:
        context.close()


@pytest.fixture
def sign_up(first_account) -> Callable[[Page], Page]:
    """Sign a new unique user up through the UI; returns the page, on the chat at "/"."""

    def sign_up_on(page: Page) -> Page:
        return _sign_up(page, unique_username())

    return sign_up_on
