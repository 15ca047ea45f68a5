"""Serving an ASGI app with hypercorn on trio: one way for the bot's own server, the fakes and the
sandbox page (each used to spell the same five lines of configuration)."""

from __future__ import annotations

import logging
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve


def hypercorn_config(host: str, port: int, *, log_name: str, graceful_s: float) -> Config:
    """No access log (request lines can carry the bot token), errors to ``log_name``, and
    ``graceful_s`` for open requests at shutdown. An IPv6 ``host`` is bracketed."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger(log_name)
    config.graceful_timeout = graceful_s
    return config


async def start_serving(nursery: trio.Nursery, app: Any, config: Config, **kwargs: Any) -> str:
    """Serve ``app`` in ``nursery`` (until it is cancelled or ``shutdown_trigger`` returns);
    returns the bound base URL without a trailing slash."""
    binds: list[str] = await nursery.start(_serve, app, config, kwargs)
    return str(binds[0]).rstrip("/")


async def _serve(app: Any, config: Config, kwargs: dict[str, Any], task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
    await serve(app, config, task_status=task_status, **kwargs)
