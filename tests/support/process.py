"""``python -m kiebot run`` as a real process in a test, defined once: the environment it inherits,
start and SIGTERM, polling a probe until it answers. Protects against a failing test leaving a bot
process behind (it is killed on the way out) and against a probe loop that waits forever."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from typing import IO, Any

import httpx
import trio

INHERITED = ("PATH", "HOME", "LANG", "TMPDIR")


def inherited_env() -> dict[str, str]:
    """What the bot process keeps of this one's environment: nothing that configures kiebot."""
    return {k: v for k, v in os.environ.items() if k in INHERITED}


@contextlib.asynccontextmanager
async def bot_process(
    argv: Sequence[str], *, env: dict[str, str], log_file: IO[bytes], cwd: str | None = None
) -> AsyncIterator[trio.Process]:
    """The process, its output in ``log_file``; killed on exit if it is still running."""
    process = await trio.lowlevel.open_process(list(argv), env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def sigterm(process: trio.Process, *, timeout_s: float = 20) -> int:
    """Stop it as the platform does on a deploy; its exit code."""
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(timeout_s):
        return await process.wait()


async def until_ok(
    http: httpx.AsyncClient,
    url: str,
    *,
    deadline_s: float = 45,
    until: Callable[[Any], bool] = lambda body: True,
    process: trio.Process | None = None,
) -> httpx.Response:
    """GET ``url`` until it answers 200 with a JSON body ``until`` accepts; with ``process``, fail
    at once if it exits meanwhile (a start-up crash, not a slow start)."""
    with trio.fail_after(deadline_s):
        while True:
            assert process is None or process.poll() is None, "the bot exited during start-up (see its log)"
            try:
                answer = await http.get(url)
                if answer.status_code == 200 and until(answer.json()):
                    return answer
            except httpx.TransportError:
                pass
            await trio.sleep(0.2)
