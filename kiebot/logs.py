"""Logging: one line per event, JSON in production, with ``request_id``, and never a secret.

Two guards keep secrets out of logs (DESIGN.md invariant "No secret ever appears in a log line"):

* every formatted line passes through :class:`Redactor`, which replaces each registered secret
  (bot token, Kie key, webhook secret, database password) with ``***``, so even a Telegram file URL
  or an exception text that embeds the token is masked;
* user ids are logged through :func:`mask_user_id`, which keeps the last 4 digits only.

``request_id`` lives in a :class:`contextvars.ContextVar`; trio copies the context into child
tasks, so everything started while handling an update or a job inherits it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


def mask_user_id(user_id: int | str | None) -> str:
    """``123456789`` → ``*****6789``: enough to correlate, not enough to identify."""
    if user_id is None:
        return ""
    text = str(user_id)
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


class Redactor:
    """Replaces registered secrets with ``***`` in any text. Process-wide, thread-safe enough
    (the set is only ever replaced, never mutated in place)."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()

    def register(self, secrets: Iterable[str]) -> None:
        merged = set(self._secrets) | {s for s in secrets if s and len(s) >= 6}
        # Longest first so a token is masked before any shorter secret inside it.
        self._secrets = tuple(sorted(merged, key=len, reverse=True))

    def clear(self) -> None:
        self._secrets = ()

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


redact = Redactor()


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[None]:
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


class JsonFormatter(logging.Formatter):
    """``{"ts":…,"level":…,"logger":…,"event":…,"request_id":…, extra fields…}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        rid = getattr(record, "request_id", "") or request_id_var.get()
        if rid:
            payload["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in payload and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """Human-readable: ``12:00:00 INFO  kiebot.runtime.app [req] event key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", "") or request_id_var.get()
        extras = " ".join(
            f"{k}={v}" for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_") and k != "request_id"
        )
        line = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname:<5} {record.name}"
        if rid:
            line += f" [{rid}]"
        line += f" {record.getMessage()}"
        if extras:
            line += f" {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def setup_logging(level: str = "INFO", fmt: str = "json", secrets: Iterable[str] = (), stream: Any = None) -> None:
    """Configure the root logger once for the process (idempotent: replaces our own handler)."""
    redact.register(secrets)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kiebot", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._kiebot = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    quiet_third_party_loggers()


def quiet_third_party_loggers() -> None:
    """Silence library chatter that would log full URLs: httpx logs every request line at INFO,
    and a Telegram request line contains the bot token (``/bot<token>/sendMessage``)."""
    for noisy in ("httpx", "httpcore", "hypercorn.access", "asyncio", "trio-asyncio", "quart.serving"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
