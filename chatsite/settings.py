"""Project settings, read from the environment (12-factor); `.env` is read in development."""

import os
import re
import secrets
import socket
import tempfile
from decimal import Decimal
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR."""
    if key := env.str("SECRET_KEY", default=""):
        return key
    # A per-install random key beats a hard-coded one: the quick start stays one command
    # without ever running on a key that is public in the repository.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env.bool("DEBUG", default=False)
# Never "*": Channels' origin check for the WebSocket is derived from this list.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "accounts",
    "conversations",
]

MIDDLEWARE = [
    # /healthz is answered first: before the Host check and the HTTPS redirect (decision 43).
    "chatsite.health.health_check_middleware",
    "chatsite.access_log.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "conversations.context_processors.chat",
            ],
        },
    },
]

# SQLite by default: WAL lets readers run beside the one writer, the busy timeout waits
# for the lock instead of failing, and IMMEDIATE transactions take the write lock before
# they read (the quota admission relies on it, since select_for_update is a no-op here).
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not :memory:, so the runner's threads share it; one per process so that
    # test runs side by side do not trample each other.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"chatsite-test-{os.getpid()}.sqlite3")
    }
# Persistent connections: Channels' database_sync_to_async closes connections older than
# this around every call, and the runner makes several calls per reply; a new SQLite
# connection (with its PRAGMAs) each time was the largest cost of a reply (docs/performance.md).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Without it a connect to an unreachable server waits for the OS (minutes): /healthz and
    # every thread that needs a connection would hang with it. A URL's own value wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py caps a pool at 100 connections; a busy worker publishes to more
            # conversations than that at once (docs/performance.md).
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": env.int("REDIS_MAX_CONNECTIONS", default=1000),
                        # Every idle receive is a 5 s blocking pop (RedisChannelLayer.
                        # brpop_timeout). redis-py 8 reads with a 5 s socket timeout by
                        # default, so an idle pop raised "Timeout reading" and killed the
                        # socket; twice the pop still notices a dead Redis (decision 39).
                        "socket_timeout": 10,
                        "socket_connect_timeout": 5,
                    }
                ]
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat"
LOGOUT_REDIRECT_URL = "login"

# open: anyone may sign up; invite: only with an admin-made invite link; closed: nobody.
# The very first account is always allowed: it becomes the admin.
SIGNUP_MODE = env.str("SIGNUP_MODE", default="invite")
if SIGNUP_MODE not in {"open", "invite", "closed"}:
    raise environ.ImproperlyConfigured("SIGNUP_MODE must be open, invite or closed")
INVITE_DAYS = env.int("INVITE_DAYS", default=7)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "chatsite_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded attachments (issue 10): on disk under DATA_DIR/media/ unless STORAGE_DEFAULT names
# another backend (an S3-compatible bucket through django-storages: docs/deployment.md). They
# are served only by views that check access, never from a public URL.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
STORAGES = {
    "default": env.json(
        "STORAGE_DEFAULT", default={"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy (docs/deployment.md) these turn on.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def _websocket_sources(hosts: list[str]) -> list[str]:
    """connect-src entries naming the WebSocket origins of the allowed hosts."""
    sources = []
    for host in hosts:
        host = host.lstrip(".")
        if host and host != "*" and not host.startswith("["):  # CSP has no IPv6 literals
            sources += [f"wss://{host}", f"wss://{host}:*", f"ws://{host}:*", f"ws://{host}"]
    return sources


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", *_websocket_sources(ALLOWED_HOSTS)],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# The upstream: the official SDKs' names. Without a key the app talks to its own fake
# upstream on loopback, shown to users as a demo model.
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="https://api.anthropic.com")
ANTHROPIC_VERSION = env.str("ANTHROPIC_VERSION", default="2023-06-01")
ANTHROPIC_CONNECT_TIMEOUT = env.float("ANTHROPIC_CONNECT_TIMEOUT", default=10.0)
ANTHROPIC_READ_TIMEOUT = env.float("ANTHROPIC_READ_TIMEOUT", default=120.0)
ANTHROPIC_MAX_RETRIES = env.int("ANTHROPIC_MAX_RETRIES", default=2)
DEMO_MODE = not ANTHROPIC_API_KEY
DEMO_MODEL = "chatsite-demo"
CHAT_MODEL = env.str(
    "CHAT_MODEL", default=DEMO_MODEL if DEMO_MODE else "claude-sonnet-4-5-20250929"
)
CHAT_MAX_TOKENS = env.int("CHAT_MAX_TOKENS", default=4096)
# Upstream calls one reply may make through tool rounds (decision 78).
TOOL_MAX_ROUNDS = env.int("TOOL_MAX_ROUNDS", default=5)
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=100_000)
# A title written by the catalog's title model after a conversation's first reply (decision 72).
CHAT_AUTO_TITLES = env.bool("CHAT_AUTO_TITLES", default=True)
# Prompt caching: cache_control breakpoints on chat requests (conversations/caching.py).
PROMPT_CACHING = env.bool("PROMPT_CACHING", default=True)
# Credential patterns a send is checked against (conversations/secret_scan.py): a JSON list of
# extra regular expressions, and built-in kinds to switch off ("all" for every built-in one).
SECRET_PATTERNS_EXTRA = env.json("SECRET_PATTERNS_EXTRA", default=[])
if not isinstance(SECRET_PATTERNS_EXTRA, list) or not all(
    isinstance(p, str) and p for p in SECRET_PATTERNS_EXTRA
):
    raise environ.ImproperlyConfigured(
        "SECRET_PATTERNS_EXTRA must be a JSON list of regular expressions"
    )
for _number, _pattern in enumerate(SECRET_PATTERNS_EXTRA, start=1):
    try:
        re.compile(_pattern, re.ASCII)
    except re.error:  # named by position: the pattern may quote a real key
        raise environ.ImproperlyConfigured(
            f"SECRET_PATTERNS_EXTRA: pattern {_number} is not a valid regular expression"
        ) from None
SECRET_PATTERNS_DISABLED = env.list("SECRET_PATTERNS_DISABLED", default=[])


def _optional_decimal(name: str, default: str) -> Decimal | None:
    value = env.str(name, default=default).strip().lower()
    return None if value in ("", "none") else Decimal(value)


def _optional_int(name: str, default: str) -> int | None:
    value = env.str(name, default=default).strip().lower()
    return None if value in ("", "none") else int(value)


# Quotas for new users (admins start unlimited): period day|week|month|none, limits "none"
# for no limit. docs/quotas.md explains the rules.
QUOTA_DEFAULT_PERIOD = env.str("QUOTA_DEFAULT_PERIOD", default="month")
QUOTA_DEFAULT_COST_LIMIT = _optional_decimal("QUOTA_DEFAULT_COST_LIMIT", "10")
QUOTA_DEFAULT_TOKEN_LIMIT = _optional_int("QUOTA_DEFAULT_TOKEN_LIMIT", "none")
if QUOTA_DEFAULT_PERIOD not in {"day", "week", "month", "none"}:
    raise environ.ImproperlyConfigured("QUOTA_DEFAULT_PERIOD must be day, week, month or none")

# Abuse limits, counted by accounts/limits.py (Redis when REDIS_URL is set, else the
# database) so that every worker sees the same counts; 0 switches a limit off.
# Sign-in: failures allowed per account and per client address in a window (seconds).
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
# From every address together: higher, so guesses from elsewhere cannot lock a member out of
# their own address for long, yet spreading guesses over many addresses still hits a wall.
LOGIN_FAILURES_PER_ACCOUNT_TOTAL = env.int("LOGIN_FAILURES_PER_ACCOUNT_TOTAL", default=50)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=30)
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", default=900)
# The client's address is REMOTE_ADDR unless a proxy we trust names it in this header.
CLIENT_ADDRESS_HEADER = env.str("CLIENT_ADDRESS_HEADER", default="")
# Sending, per user (an admin may override both per user in the quota).
CHAT_SENDS_PER_MINUTE = env.int("CHAT_SENDS_PER_MINUTE", default=20)
CHAT_MAX_CONCURRENT_REPLIES = env.int("CHAT_MAX_CONCURRENT_REPLIES", default=5)
# Personal API keys a member may hold at once (neither revoked nor expired); 0: no limit.
API_KEYS_PER_USER = env.int("API_KEYS_PER_USER", default=20)
# Frames per socket: a token bucket of this rate (per second) and burst.
WS_FRAMES_PER_SECOND = env.float("WS_FRAMES_PER_SECOND", default=10.0)
WS_FRAME_BURST = env.int("WS_FRAME_BURST", default=40)

# Attachments: the defaults follow the Messages API's own limits (docs/configuration.md).
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=30 * 1024 * 1024)
ATTACHMENT_MAX_TEXT_BYTES = env.int("ATTACHMENT_MAX_TEXT_BYTES", default=256 * 1024)
ATTACHMENT_MAX_PIXELS = env.int("ATTACHMENT_MAX_PIXELS", default=8000 * 8000)
ATTACHMENT_MAX_IMAGE_EDGE = env.int("ATTACHMENT_MAX_IMAGE_EDGE", default=8000)
ATTACHMENT_MAX_PDF_PAGES = env.int("ATTACHMENT_MAX_PDF_PAGES", default=100)
ATTACHMENTS_PER_MESSAGE = env.int("ATTACHMENTS_PER_MESSAGE", default=10)
ATTACHMENT_IMAGE_LONG_EDGE = env.int("ATTACHMENT_IMAGE_LONG_EDGE", default=1568)
ATTACHMENT_MAX_IMAGES_PER_REQUEST = env.int("ATTACHMENT_MAX_IMAGES_PER_REQUEST", default=100)
ATTACHMENT_MAX_PDF_PAGES_PER_REQUEST = env.int("ATTACHMENT_MAX_PDF_PAGES_PER_REQUEST", default=100)
ATTACHMENT_MAX_REQUEST_BYTES = env.int("ATTACHMENT_MAX_REQUEST_BYTES", default=32_000_000)
ATTACHMENT_UNSENT_HOURS = env.int("ATTACHMENT_UNSENT_HOURS", default=24)
ATTACHMENT_MAX_UNSENT = env.int("ATTACHMENT_MAX_UNSENT", default=100)
# The largest file the import takes (attachments come base64 inside it): read whole, then checked.
CHAT_IMPORT_MAX_BYTES = env.int("CHAT_IMPORT_MAX_BYTES", default=64 * 1024 * 1024)

# The team gateway (/v1/): per-key limits (0: none; a key's own figures override them), the
# request size the Messages API allows, and what passes beyond its allow-lists (decision 65).
GATEWAY_REQUESTS_PER_MINUTE = env.int("GATEWAY_REQUESTS_PER_MINUTE", default=60)
GATEWAY_CONCURRENT_STREAMS = env.int("GATEWAY_CONCURRENT_STREAMS", default=4)
GATEWAY_MAX_REQUEST_BYTES = env.int("GATEWAY_MAX_REQUEST_BYTES", default=32_000_000)
GATEWAY_EXTRA_FIELDS = env.list("GATEWAY_EXTRA_FIELDS", default=[])
GATEWAY_EXTRA_BETAS = env.list("GATEWAY_EXTRA_BETAS", default=[])

# Streaming: partial replies are written at most this often; a streaming message whose
# heartbeat is older than the timeout belongs to a dead process and becomes interrupted.
STREAM_CHECKPOINT_SECONDS = env.float("STREAM_CHECKPOINT_SECONDS", default=1.0)
STREAM_COALESCE_SECONDS = env.float("STREAM_COALESCE_SECONDS", default=0.04)
STREAM_HEARTBEAT_TIMEOUT = env.float("STREAM_HEARTBEAT_TIMEOUT", default=30.0)
# How long the event loop waits, parked, for the database work of a frame that starts a reply
# (send, retry, regenerate, edit, continue) before going on without it: 0 never parks
# (chatsite/db_hop.py, decision 102). SQLite's work is the process's own CPU; a server's is
# partly network waits the loop could use, so parking is opt-in there.
_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
DB_HOP_HOLD_SECONDS = env.float("DB_HOP_HOLD_SECONDS", default=0.02 if _SQLITE else 0.0)

# json: one object per line, for a log collector; text: for people (decision 44).
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise environ.ImproperlyConfigured("LOG_FORMAT must be json or text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "chatsite.logging.JsonFormatter"},
        "text": {
            "()": "chatsite.logging.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # At DEBUG it logs every missing template variable with the whole context: the
        # request's query string and the CSRF token would reach the logs with LOG_LEVEL=DEBUG.
        "django.template": {"level": "INFO"},
    },
}

# Names this process on streaming messages it owns (several workers behind a balancer).
# It doubles as the process's channel name, so it keeps to the layer's allowed characters.
WORKER_ID = "worker.{}.{}.{}".format(
    re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40], os.getpid(), secrets.token_hex(4)
)
