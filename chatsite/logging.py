"""Log formatters: one JSON object per line for production, readable text for development."""

import json
import logging
import time
from datetime import UTC, datetime

# What every LogRecord carries; anything else on a record came from `extra=` and is a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


# Field values are data. Objects are left out: Django's request logger passes the request
# itself, whose repr carries the query string.
_PLAIN = (str, int, float, bool, type(None), list, tuple, dict)


def extra_fields(record: logging.LogRecord) -> dict:
    """The fields a log call passed in `extra`, in the order it passed them."""
    return {
        k: v
        for k, v in vars(record).items()
        if k not in _STANDARD and not k.startswith("_") and isinstance(v, _PLAIN)
    }


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a time.monotonic() reading), to a tenth."""
    return round((time.monotonic() - started) * 1000, 1)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the `extra` fields.

    ASCII-only output: a line stays valid JSON, and one line, whatever a field holds.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **extra_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """The given text format, followed by the `extra` fields as key=value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = extra_fields(record)
        if not fields:
            return text
        pairs = " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        head, newline, rest = text.partition("\n")  # after the message, before a traceback
        return f"{head} {pairs}{newline}{rest}"


def _text_value(value: object) -> str:
    text = "-" if value is None else str(value)
    return json.dumps(text) if not text or any(c.isspace() or c == '"' for c in text) else text
