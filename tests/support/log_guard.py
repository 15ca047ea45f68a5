"""A pytest plugin that proves, for the whole test run, that no secret reaches a log line.

DESIGN.md invariant: "No secret ever appears in a log line ... not the bot token (Telegram file
URLs contain it), not the Kie key, not the webhook secret." Production masks secrets twice: code
keeps them out of messages, and :class:`kiebot.logs.Redactor` masks whatever slips through when
a line is formatted. This guard checks the first line of defence, which is the stricter one: it
sees every :class:`logging.LogRecord` *before* any formatter or redactor, renders everything a
formatter could print (the message with its arguments, the exception and stack text, every extra
field), and looks for each known secret in it.

Which secrets: the test harness's bot token, Kie key and derived webhook secret, every value any
app started during the run registers with ``kiebot.logs.redact`` (``run_app`` registers
``Settings.secrets()``: bot token, Kie key, HMAC key, webhook secret, database password), and the
token or key of every ``TelegramClient`` and ``KieClient`` built during the run. A bot
token is searched by its secret half (after the colon), which also catches it URL-encoded around
the colon and in Telegram file URLs.

So that DEBUG lines are covered too (an operator may run with ``LOG_LEVEL=DEBUG``), the
``kiebot`` logger (the app's modules and its quart app) is lowered to ``KIEBOT_LOG_GUARD_LEVEL``
(default DEBUG) for the run. Third-party loggers keep their levels: lowering the root logger
would make httpx log test clients' own request URLs and change what other tests capture. That
the app silences httpx while it runs (``kiebot.logs.quiet_third_party_loggers``) is checked at
DEBUG by tests/security/test_no_secret_in_logs.py.

A leak fails the test that logged it (its teardown report) and the run (exit status 1), and is
listed in the terminal summary with the test it happened in; the secret itself is never printed,
only its name. Under pytest-xdist each worker runs its own guard: the failed teardown report is
what reaches the controller.

Registered from ``tests/conftest.py``; tests/security/test_no_secret_in_logs.py checks the same
property for a run it triggers itself, and unit-tests :func:`find_secrets`.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

#: Attributes every LogRecord has; anything else on a record is an ``extra`` field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
#: Shorter values are not searched for (they would match by accident and are no real secret).
MIN_SECRET_CHARS = 8
#: How many leaks are kept for the report (the count is exact).
MAX_REPORTED = 50


def needles(name: str, value: str) -> dict[str, str]:
    """The strings to search for ``value``: the value itself and, for a bot token
    (``<digits>:<secret>``), its secret half alone."""
    out: dict[str, str] = {}
    if len(value) >= MIN_SECRET_CHARS:
        out[value] = name
    head, sep, tail = value.partition(":")
    if sep and head.isdigit() and len(tail) >= MIN_SECRET_CHARS:
        out[tail] = f"{name} (secret half)"
    return out


def render(record: logging.LogRecord) -> str:
    """Everything a formatter could write for ``record``: message with arguments, the raw
    ``msg`` and ``args`` (in case formatting fails), exception and stack text, extra fields."""
    parts: list[str] = []
    try:
        parts.append(record.getMessage())
    except Exception as exc:  # a broken format string must not hide its arguments
        parts.append(f"<unformattable: {type(exc).__name__}>")
    parts.append(repr(record.msg))
    if record.args:
        parts.append(repr(record.args))
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    for key, value in vars(record).items():
        if key not in _STANDARD:
            parts.append(f"{key}={value!r}")
    return "\n".join(parts)


def find_secrets(text: str, secrets: Mapping[str, str]) -> list[str]:
    """Names of the secrets (``{needle: name}``) that occur in ``text``."""
    return sorted({name for needle, name in secrets.items() if needle in text})


def mask(text: str, secrets: Mapping[str, str]) -> str:
    for needle in sorted(secrets, key=len, reverse=True):
        text = text.replace(needle, f"<{secrets[needle]}>")
    return text


@dataclass
class Leak:
    test: str
    logger: str
    level: str
    secrets: list[str]
    line: str  # masked


@dataclass(eq=False)  # pluggy keeps plugins in sets: identity hash
class LogGuard:
    """The plugin object: a logging handler plus the pytest hooks that report what it found."""

    level: int = logging.DEBUG
    secrets: dict[str, str] = field(default_factory=dict)
    leaks: list[Leak] = field(default_factory=list)
    leak_count: int = 0
    records_seen: int = 0
    current_test: str = "(outside tests)"
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _handler: logging.Handler | None = None
    _saved_app_level: int = logging.NOTSET
    _leaks_before_test: int = 0
    workers_watched: int = 0

    # ---- secrets ---------------------------------------------------------------------------

    def add_secrets(self, named: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            for name, value in named:
                if value:
                    self.secrets.update(needles(name, value))

    def _known_test_secrets(self) -> None:
        from kiebot.config import Settings
        from kiebot.testing import harness

        self.add_secrets(
            [
                ("harness bot token", harness.TOKEN),
                ("harness Kie key", harness.KIE_KEY),
                ("harness webhook secret", Settings(telegram_bot_token=harness.TOKEN).webhook_secret),
            ]
        )

    def _spy_on_redactor(self) -> None:
        """Learn every secret an app registers for redaction (``run_app`` does at start)."""
        from kiebot.logs import redact

        original = redact.register
        guard = self

        def register(secrets: Iterable[str]) -> None:
            values = list(secrets)
            guard.add_secrets(("a secret the app registered for redaction", v) for v in values)
            original(values)

        redact.register = register  # type: ignore[method-assign]

    def _spy_on_clients(self) -> None:
        """Learn the token or key of every Telegram and Kie client built during the run (tests of
        the clients alone use secrets of their own), once the client accepted it."""
        import functools

        from kiebot.kie.client import KieClient
        from kiebot.telegram.client import TelegramClient

        guard = self

        def spy(cls: Any, name: str, pick: Any) -> None:
            original = cls.__init__

            @functools.wraps(original)
            def init(client: Any, *args: Any, **kwargs: Any) -> None:
                original(client, *args, **kwargs)
                guard.add_secrets([(name, pick(args, kwargs))])

            cls.__init__ = init

        spy(TelegramClient, "a Telegram client's bot token", lambda a, kw: kw.get("token", a[1] if len(a) > 1 else ""))
        spy(KieClient, "a Kie client's API key", lambda a, kw: kw.get("api_key", ""))

    # ---- the handler -----------------------------------------------------------------------

    def check(self, record: logging.LogRecord) -> None:
        secrets = dict(self.secrets)
        text = render(record)
        found = find_secrets(text, secrets)
        with self._lock:
            self.records_seen += 1
            if not found:
                return
            self.leak_count += 1
            if len(self.leaks) < MAX_REPORTED:
                self.leaks.append(Leak(self.current_test, record.name, record.levelname, found, mask(text, secrets)[:2000]))

    def install(self) -> None:
        guard = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                guard.check(record)

        self._known_test_secrets()
        self._spy_on_redactor()
        self._spy_on_clients()
        self._handler = _Handler(level=logging.NOTSET)
        logging.getLogger().addHandler(self._handler)
        app = logging.getLogger("kiebot")
        self._saved_app_level = app.level
        app.setLevel(min(self.level, app.level or self.level))

    def uninstall(self) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            logging.getLogger("kiebot").setLevel(self._saved_app_level)
            self._handler = None

    # ---- pytest hooks ----------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.current_test = nodeid
        self._leaks_before_test = self.leak_count

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """A leak also fails the test that logged it, in its teardown report: that report reaches
        the terminal (and pytest-xdist's controller, which never sees a worker's log records)."""
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        new = self.leak_count - self._leaks_before_test
        if call.when != "teardown" or new <= 0:
            return
        mine = [leak for leak in self.leaks if leak.test == item.nodeid]
        lines = [f"{new} log record(s) of this test carried a secret:"]
        for leak in mine:
            lines.append(f"{leak.level} {leak.logger} leaks {', '.join(leak.secrets)}")
            lines.extend(f"    {line}" for line in leak.line.splitlines()[:12])
        report.outcome = "failed"
        report.longrepr = "\n".join(lines)
        # pytest prints a failed test's captured output: mask the secret there too.
        secrets = dict(self.secrets)
        report.sections = [(title, mask(content, secrets)) for title, content in report.sections]

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.current_test = f"(after {nodeid})"

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # a pytest-xdist worker: report to the controller
            workeroutput["log_guard"] = (self.records_seen, self.leak_count, len(self.secrets))
        if self.leak_count and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist's controller: add up what each worker's guard saw (its leaks already
        failed the tests that logged them)."""
        seen, leaks, watched = getattr(node, "workeroutput", {}).get("log_guard", (0, 0, 0))
        with self._lock:
            self.records_seen += seen
            self.leak_count += leaks
            self.workers_watched = max(self.workers_watched, watched)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.leak_count:
            watched = max(len(self.secrets), self.workers_watched)
            terminalreporter.write_line(f"log guard: no secret in {self.records_seen} log records ({watched} secret forms watched)")
            return
        terminalreporter.section("secrets in log records", sep="=", red=True, bold=True)
        for leak in self.leaks:
            terminalreporter.write_line(f"{leak.test}: {leak.level} {leak.logger} leaks {', '.join(leak.secrets)}")
            for line in leak.line.splitlines()[:12]:
                terminalreporter.write_line(f"    {line}")
        terminalreporter.write_line(
            f"log guard: {self.leak_count} of {self.records_seen} log records carried a secret; the run fails", red=True
        )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.uninstall()


def make_guard() -> LogGuard:
    """The guard, installed on the root logger (``KIEBOT_LOG_GUARD_LEVEL`` sets the level)."""
    level_name = os.environ.get("KIEBOT_LOG_GUARD_LEVEL", "DEBUG").upper()
    level = logging.getLevelName(level_name)
    guard = LogGuard(level=level if isinstance(level, int) else logging.DEBUG)
    guard.install()
    return guard


#: The plugin's name in pytest's plugin manager; tests find the active guard with
#: ``request.config.pluginmanager.get_plugin(PLUGIN_NAME)``.
PLUGIN_NAME = "kiebot_log_guard"
