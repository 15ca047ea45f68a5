"""``python -m kiebot sandbox`` (``make sandbox``): the whole bot in a browser, with no tokens.

Prints a few friendly lines (where the data is, the URL, how to stop); the app's own logs go to
``<data dir>/sandbox.log`` (rotated at 10 MB), and only warnings reach the console. SIGTERM or
Ctrl+C stops it gracefully — the app finishes in-flight work within its grace period — and the
process exits 0; a second signal stops at once.
"""

from __future__ import annotations

import argparse
import errno
import logging
import logging.handlers
import os
import signal
import socket
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TextIO

import trio

from kiebot.logs import TextFormatter, quiet_third_party_loggers, redact
from kiebot.sandbox.options import (
    DEFAULT_DATA_DIR,
    DEFAULT_SPEED,
    SANDBOX_KIE_KEY,
    SANDBOX_TOKEN,
    SandboxOptions,
)
from kiebot.sandbox.runner import Sandbox, run_sandbox
from kiebot.store.embedded import EmbeddedPostgresError

log = logging.getLogger(__name__)

LOG_FILE_MAX_BYTES = 10 * 1024 * 1024
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_BIND_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def options_from(args: argparse.Namespace) -> SandboxOptions:
    """The parsed command line (``kiebot.__main__``) as :class:`SandboxOptions`.

    Raises:
        ValueError: an option is out of range (the message names it).
    """
    return SandboxOptions(
        host=args.host,
        port=args.port,
        speed=DEFAULT_SPEED if args.speed is None else args.speed,
        reset=bool(args.reset),
        data_dir=Path(args.data_dir or DEFAULT_DATA_DIR).expanduser().resolve(),
    )


def setup_sandbox_logging(log_file: Path, level: str) -> None:
    """App logs (text, redacted) to ``log_file``; warnings and errors also to the console."""
    redact.register((SANDBOX_TOKEN, SANDBOX_KIE_KEY))
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kiebot", False):
            root.removeHandler(handler)
    to_file = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=LOG_FILE_MAX_BYTES, backupCount=1, encoding="utf-8"
    )
    to_console = logging.StreamHandler(sys.stderr)
    to_console.setLevel(logging.WARNING)
    to_console.addFilter(lambda record: not getattr(record, "file_only", False))
    handlers: tuple[logging.Handler, ...] = (to_file, to_console)
    for handler in handlers:
        handler.setFormatter(TextFormatter())
        handler._kiebot = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    quiet_third_party_loggers()


def _announce(sandbox: Sandbox, out: TextIO) -> None:
    options = sandbox.options
    lines = [
        "kiebot sandbox is ready: the real bot, a fake Telegram and a fake Kie — nothing leaves this machine.",
        f"  data   {options.data_dir}  (database in pgdata/, logs in {options.log_file.name}; --reset starts clean)",
        f"  speed  fake Kie at {options.speed:g}× Kie's usual timings (--speed)",
    ]
    if options.host not in ("127.0.0.1", "localhost", "::1"):
        lines.append(
            f"  note   listening on {options.host}: anyone who can reach this port can use the sandbox"
        )
    lines += [f"Open {sandbox.url}", "Stop with Ctrl+C."]
    print("\n".join(lines), file=out, flush=True)


async def _watch_signals(
    stop: trio.Event, cancel_scope: trio.CancelScope, task_status: trio.TaskStatus[None]
) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            if stop.is_set():
                log.warning("second signal: stopping now")
                cancel_scope.cancel()
                return
            log.info("signal received: stopping the sandbox")
            stop.set()


async def serve(options: SandboxOptions, out: TextIO) -> None:
    """Run until SIGTERM/SIGINT."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(_watch_signals, stop, nursery.cancel_scope)

        async def sandbox_then_done(task_status: trio.TaskStatus[Sandbox] = trio.TASK_STATUS_IGNORED) -> None:
            await run_sandbox(options, stop=stop, task_status=task_status)
            nursery.cancel_scope.cancel()

        sandbox: Sandbox = await nursery.start(sandbox_then_done)
        _announce(sandbox, out)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def explain_failure(exc: BaseException, options: SandboxOptions) -> str | None:
    """One line for the failures a newcomer can fix (busy port, unusable data directory); None for
    anything else, which is a bug to report with its traceback."""
    for leaf in _leaves(exc):
        if isinstance(leaf, EmbeddedPostgresError):
            return str(leaf)
        if isinstance(leaf, OSError) and leaf.errno in _BIND_ERRORS:
            return _bind_failure(options.host, options.port, leaf.strerror or str(leaf))
    return None


def port_problem(host: str, port: int) -> str | None:
    """Why the page could not be served on ``host:port`` (None when it can), checked before the
    database and the bot start, so a busy port is reported at once instead of after start-up."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as hypercorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            return _bind_failure(host, port, exc.strerror or str(exc))
    return None


def _bind_failure(host: str, port: int, reason: str) -> str:
    return f"cannot serve the page on {host}:{port} ({reason}); is another sandbox running? Choose another port with --port."


def main(args: argparse.Namespace) -> int:
    try:
        options = options_from(args)
    except ValueError as exc:
        print(f"kiebot sandbox: {exc}", file=sys.stderr)
        return 2
    problem = port_problem(options.host, options.port)
    if problem is not None:
        print(f"kiebot sandbox: {problem}", file=sys.stderr)
        return 1
    options.data_dir.mkdir(parents=True, exist_ok=True)
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    setup_sandbox_logging(options.log_file, level if level in _LEVELS else "INFO")
    print("kiebot sandbox: starting PostgreSQL, the fake Telegram, the fake Kie and the bot…", flush=True)
    try:
        trio.run(partial(serve, options, sys.stdout))
    except KeyboardInterrupt:
        return 0  # Ctrl+C before the signal handler was installed
    except Exception as exc:  # an ExceptionGroup from the nurseries, or a bare error
        explanation = explain_failure(exc, options)
        if explanation is None:
            raise
        log.error("sandbox failed", exc_info=exc, extra={"file_only": True})  # the console gets one line
        print(f"kiebot sandbox: {explanation}", file=sys.stderr)
        return 1
    print("kiebot sandbox: stopped.", flush=True)
    return 0
