"""One media file on its way through the bot: in memory while small, else in a temporary file.

A download writes into it chunk by chunk (it is the ``sink`` of
:meth:`kiebot.kie.client.KieClient.fetch_result_into` and
:meth:`kiebot.telegram.client.TelegramClient.download_file_into`), and an upload reads it back
through :meth:`MediaFile.reader` — httpx sends a file object in 64 KiB pieces (plain reads on
the event loop, from a file just written and so in the page cache) — so a 50 MB video never sits
whole in memory. Every byte kept in memory is counted in the process's
:class:`~kiebot.generation.media_budget.MediaBudget` (``MEDIA_MEMORY_MB``):

* a file up to ``small_file_bytes`` stays in memory when the budget agrees (no disk for a photo);
* otherwise it goes to an anonymous temporary file (``tempfile.TemporaryFile``: in ``TMPDIR``,
  gone when closed, or when the process dies), written in batches of ``write_batch_bytes`` from
  a worker thread so a slow disk does not stall the event loop.

Use it as a context manager: closing gives the memory back and deletes the file.
"""

from __future__ import annotations

import io
import tempfile
from types import TracebackType
from typing import IO, BinaryIO, cast

import trio

from kiebot.generation.media_budget import MediaBudget

#: Bytes kept from the start of the file, for sniffing its type.
HEAD_BYTES = 64


class _MemoryReader(io.RawIOBase):
    """A read-only, seekable view of the in-memory bytes, without copying them."""

    def __init__(self, data: bytearray) -> None:
        super().__init__()
        self._view = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._view[self._pos : self._pos + len(buffer)]
        n = len(chunk)
        memoryview(buffer).cast("B")[:n] = chunk
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        chunk = bytes(self._view[self._pos : end])
        self._pos = max(self._pos, end)
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._view.release()
        super().close()


class MediaFile:
    """Bytes of one file, counted against ``budget`` while in memory (see the module docstring)."""

    def __init__(self, budget: MediaBudget, *, directory: str | None = None) -> None:
        self._budget = budget
        self._directory = directory
        self._memory = bytearray()
        self._pending = bytearray()  # on their way to disk
        self._pending_held = 0  # what the pending bytes took from the budget
        self._disk: IO[bytes] | None = None
        self._readers: list[_MemoryReader] = []
        self.size = 0
        self.head = b""
        self.closed = False

    def __repr__(self) -> str:
        where = "disk" if self._disk is not None else "memory"
        return f"MediaFile(size={self.size}, in={where})"

    @property
    def on_disk(self) -> bool:
        return self._disk is not None

    async def write(self, data: bytes) -> None:
        """Append ``data`` (one network chunk)."""
        if self.closed:
            raise ValueError("write to a closed MediaFile")
        if not data:
            return
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self.size += len(data)
        if self._disk is None:
            if self.size <= self._budget.small_file_bytes and self._budget.try_take(len(data)):
                self._memory += data
                return
            await self._spill()
        await self._budget.take(len(data))
        self._pending_held += min(len(data), self._budget.limit)
        self._pending += data
        if len(self._pending) >= self._budget.write_batch_bytes:
            await self._flush()

    async def finish(self) -> None:
        """Everything is written: put the last batch on disk (call before :meth:`reader`)."""
        await self._flush()

    async def reset(self) -> None:
        """Forget what was written (a download starts over after a failed attempt)."""
        self._release_memory()
        if self._disk is not None:
            disk = self._disk
            await trio.to_thread.run_sync(_truncate, disk)
        self.size = 0
        self.head = b""

    def reader(self) -> BinaryIO:
        """The whole content as a seekable file object for an upload (httpx reads it in pieces
        and rewinds it for a retry). Valid until :meth:`close`."""
        if self._pending:
            raise RuntimeError("MediaFile.reader() before finish()")
        if self._disk is not None:
            self._disk.seek(0)
            return cast(BinaryIO, self._disk)
        reader = _MemoryReader(self._memory)
        self._readers.append(reader)
        return cast(BinaryIO, reader)

    def close(self) -> None:
        """Give the memory back and delete the temporary file."""
        if self.closed:
            return
        self.closed = True
        for reader in self._readers:
            reader.close()
        self._readers.clear()
        self._release_memory()
        if self._disk is not None:
            self._disk.close()
            self._disk = None

    def __enter__(self) -> MediaFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ---- internals -------------------------------------------------------------------------

    def _release_memory(self) -> None:
        held = len(self._memory) + self._pending_held
        self._memory = bytearray()
        self._pending = bytearray()
        self._pending_held = 0
        if held:
            self._budget.give(held)

    async def _spill(self) -> None:
        """From memory to a new temporary file: what was in memory becomes the first batch."""
        self._disk = await trio.to_thread.run_sync(tempfile.TemporaryFile, "w+b", -1, None, None, "kiebot-media-", "", self._directory)
        self._pending, self._memory = self._memory, bytearray()
        self._pending_held = len(self._pending)
        await self._flush()

    async def _flush(self) -> None:
        if not self._pending or self._disk is None:
            return
        batch, self._pending = self._pending, bytearray()
        held, self._pending_held = self._pending_held, 0
        disk = self._disk
        try:
            await trio.to_thread.run_sync(disk.write, batch)
        finally:
            del batch
            self._budget.give(held)


def _truncate(disk: IO[bytes]) -> None:
    disk.seek(0)
    disk.truncate()
