"""The benchmark harness itself: the webhook load generator speaks HTTP/1.1 correctly (lengths,
chunked bodies, servers that close), open-loop pacing and latency from the due time, the update
bodies are real Bot API updates, the reply tracker counts what the fake Telegram received, the
combined table, and the launcher that lifts the third-party rate limits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from benchmarks._common import Result, format_results, percentile
from benchmarks._fakes import ReplyTracker
from benchmarks._load import Connection, closed_loop, open_loop, start_update
from kiebot.telegram.types import decode_update
from kiebot.testing.harness import TOKEN
from kiebot.testing.telegram.server import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


async def _canned_server(answers: list[bytes], nursery: trio.Nursery, seen: list[bytes]) -> int:
    """A TCP server that reads one request per answer (head + Content-Length body) and replies
    with the next canned answer; a connection closes after an answer with ``Connection: close``."""
    queue = iter(answers)

    async def handle(stream: trio.SocketStream) -> None:
        buffer = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
                while len(buffer) < length:
                    buffer += await stream.receive_some(65536)
                seen.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                answer = next(queue)
                await stream.send_all(answer)
                if b"connection: close" in answer.lower():
                    return

    listeners = await nursery.start(trio.serve_tcp, handle, 0)
    return int(listeners[0].socket.getsockname()[1])


async def test_connection_reads_length_chunked_and_reconnects_after_close() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
        b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    ]
    seen: list[bytes] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await _canned_server(answers, nursery, seen)
            conn = Connection(f"http://127.0.0.1:{port}/webhook", {"X-Telegram-Bot-Api-Secret-Token": "s3"})
            statuses = [await conn.post(b'{"n":%d}' % i) for i in range(4)]
            await conn.aclose()
            nursery.cancel_scope.cancel()
    assert statuses == [200, 401, 503, 200]
    assert len(seen) == 4
    assert seen[0].startswith(b"POST /webhook HTTP/1.1\r\n")
    assert b"X-Telegram-Bot-Api-Secret-Token: s3\r\n" in seen[0]
    assert seen[3].endswith(b'{"n":3}')


async def test_open_loop_paces_requests_and_counts_latency_from_the_due_time() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    seen: list[bytes] = []
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await _canned_server([answer] * 100, nursery, seen)
            started = trio.current_time()
            result = await open_loop(f"http://127.0.0.1:{port}/webhook", "s", lambda i: b'{"i":%d}' % i, rate=50, count=20, connections=2)
            elapsed = trio.current_time() - started
            nursery.cancel_scope.cancel()
    assert result.completed == 20
    assert result.ok == 20
    assert result.errors == 0
    assert elapsed >= 19 / 50  # the 20th request was due 0.38 s after the first
    assert all(latency >= 0 for latency in result.latencies)
    assert sorted(int(json.loads(body.split(b"\r\n\r\n", 1)[1])["i"]) for body in seen) == list(range(20))


async def test_closed_loop_keeps_every_connection_busy_until_the_deadline() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await _canned_server([answer] * 100_000, nursery, [])
            result = await closed_loop(f"http://127.0.0.1:{port}/webhook", "s", lambda i: b"{}", seconds=0.3, connections=3)
            nursery.cancel_scope.cancel()
    assert result.completed >= 3
    assert result.ok == result.completed == result.sent
    assert result.elapsed_s >= 0.3


def test_start_update_is_a_bot_api_update_with_a_command_entity() -> None:
    update = decode_update(start_update(77, 5_000_001))
    assert update.update_id == 77
    assert update.chat_id == 5_000_001
    assert update.message is not None
    assert update.message.text == "/start"
    assert update.message.entities is not None
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/start")
    plain = json.loads(start_update(78, 5, text="hello"))
    assert "entities" not in plain["message"]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) == 0.0


def test_combined_table_has_one_row_per_result_and_marks_misses() -> None:
    table = format_results(
        [
            Result("Webhook ack", "p99 at 500/s", "12.0 ms", target="≤ 10 ms", met=False),
            Result("Update decode", "mix", "800,000", peer="20,000", target="≥ 10×", met=True),
            Result("Start-up", "import", "0.5 s"),
        ]
    )
    lines = table.splitlines()
    assert len(lines) == 5
    assert "| **no** |" in lines[2]
    assert "| yes |" in lines[3]
    assert lines[4].count("|") == lines[0].count("|")


async def test_reply_tracker_counts_the_bot_messages_per_chat() -> None:
    fake = FakeTelegram(token=TOKEN)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery, httpx.AsyncClient(trust_env=False) as http:
            url = await nursery.start(fake.serve)
            fake.add_user(1001, "Ann")
            fake.add_user(1002, "Bob")
            tracker = ReplyTracker(fake, per_chat=2, expected=2)
            await nursery.start(tracker.run)
            for chat, text in ((1001, "one"), (1002, "one"), (1001, "two"), (1002, "two"), (1002, "three")):
                answer = await http.post(f"{url}/bot{TOKEN}/sendMessage", json={"chat_id": chat, "text": text})
                assert answer.json()["ok"] is True
            await tracker.wait()
            nursery.cancel_scope.cancel()
    assert tracker.counts == {1001: 2, 1002: 3}
    assert set(tracker.answered_at) == {1001, 1002}
    assert tracker.first_at[1001] <= tracker.answered_at[1001]


def test_lifted_limits_change_only_the_two_rate_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmarks lift Telegram's overall rate and Kie's create rate through KIEBOT_LIMITS,
    and nothing else: per-chat and group pacing, leases and intervals stay as deployed."""
    from benchmarks._procs import lifted_env
    from kiebot.config import load_settings
    from kiebot.limits import DEFAULT_LIMITS

    lifted = load_settings(lifted_env()).limits
    changed = {name for name in DEFAULT_LIMITS.__struct_fields__ if getattr(lifted, name) != getattr(DEFAULT_LIMITS, name)}
    assert changed == {"telegram_global_per_second", "telegram_bulk_per_second", "kie_creates_per_window", "kie_create_window_s"}
    assert lifted.telegram_global_per_second >= 10_000
    assert lifted.kie_creates_per_window / lifted.kie_create_window_s >= 10_000


@pytest.mark.parametrize("module", ["benchmarks.peer_aiogram", "benchmarks._procs"])
def test_helper_modules_are_not_listed_as_benchmarks(module: str) -> None:
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--list"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    listed = out.stdout.split()
    assert module.rsplit(".", 1)[1] not in listed
    assert listed == ["decode", "ingest", "e2e", "generations", "media", "startup", "store", "ledger"]
