"""How the fake Kie reads a task's input files: late, by name, from whatever the name holds then.

Real Kie behaves this way, and a bot that forgets it mixes users' files up:

* an upload to the same ``uploadPath`` + ``fileName`` replaces the stored file in place
  (https://docs.kie.ai/file-upload-api/quickstart: "files with the same name are overwritten");
* a task downloads its input URLs some time after ``createTask`` answered, not during it.

So two jobs that upload under one shared name and create their tasks close together can both
consume the second upload. The fake reproduces that: :class:`InputReader` decides *when* a task
reads (at once, after ``delay_s``, or when a test releases a hold), and :func:`input_urls` finds the
URLs of its own uploads in a create body. What a task consumed is kept on the task
(``FakeTask.inputs_read``) and written into its image result (see
:func:`kiebot.testing.kie.media.png_with_inputs`), so a test can tell whose bytes it got.
"""

from __future__ import annotations

from collections.abc import Iterator

import trio


def input_urls(body: object, uploads_prefix: str) -> list[str]:
    """Every string in a create body (nested lists and objects included) that names one of the
    fake's uploads (``<base_url>/uploads/...``), in body order."""
    return [value for value in _strings(body) if value.startswith(uploads_prefix)]


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class InputReader:
    """When tasks read their inputs.

    ``delay_s``: every task waits this long after creation before reading (Kie's usual lag).
    :meth:`hold`: tasks created from now on also wait until :meth:`release` — a test creates
    several tasks, lets all their uploads happen, then releases them, which makes "read after
    the other job's upload" certain instead of likely.
    """

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self._hold: trio.Event | None = None

    def hold(self) -> None:
        """Tasks created after this call read their inputs only once :meth:`release` is called."""
        if self._hold is None:
            self._hold = trio.Event()

    def release(self) -> None:
        """Let every held task read its inputs now."""
        if self._hold is not None:
            self._hold.set()
            self._hold = None

    def gate(self) -> trio.Event | None:
        """The hold a task created now must wait for (taken at creation time), or None."""
        return self._hold

    async def wait(self, gate: trio.Event | None) -> None:
        """Wait until a task created under ``gate`` may read its inputs."""
        if self.delay_s > 0:
            await trio.sleep(self.delay_s)
        if gate is not None:
            await gate.wait()
