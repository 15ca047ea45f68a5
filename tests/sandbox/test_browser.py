"""The sandbox page in a real Chromium (Debian's, driven by Playwright with ``executable_path``).

One ``python -m kiebot sandbox`` process for the module; each test starts from the page's reset.
What a newcomer would do: /start, a free picture, a Stars top-up, a bank-transfer top-up that
the admin approves, the page on a phone-sized screen, and the reset button. Every wait is for an
element or a state of the page (Playwright waits on the DOM), never a sleep. The page may ask for
nothing but its own origin: any other request fails the test.

Screenshots go to ``tests/_artifacts/screenshots/`` (ignored by git); with
``KIEBOT_SCREENSHOTS=docs/screenshots`` they refresh the ones the README shows.

Skipped, with the reason, only where the browser cannot be had: no ``playwright`` package, or no
Chromium at ``/usr/bin/chromium`` (``make test`` installs it through ``make browser-deps`` when it
runs as root; ``KIEBOT_CHROMIUM`` points at another binary).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiebot.sandbox.options import ADMIN, DEFAULT_WELCOME_RUB, USER
from kiebot.testing.harness import free_port
from kiebot.testing.kie import media as kie_media
from kiebot.testing.media import png

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("KIEBOT_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / os.environ.get("KIEBOT_SCREENSHOTS", "tests/_artifacts/screenshots")
START_TIMEOUT_S = 60
#: Playwright's limit for any single wait (an element to appear, a click to land).
STEP_TIMEOUT_MS = 20_000
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
WELCOME = int(DEFAULT_WELCOME_RUB)

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    pytest.skip(
        "browser test skipped: the playwright package is missing (pip install -e '.[dev]', which make test does)",
        allow_module_level=True,
    )
if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        f"browser test skipped: no Chromium at {CHROMIUM} (make browser-deps installs Debian's chromium "
        "when run as root; or set KIEBOT_CHROMIUM to a Chromium binary)",
        allow_module_level=True,
    )


# ---- the sandbox process and the browser --------------------------------------------------------


class SandboxProcess:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kiebot",
                "sandbox",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                "--reset",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(START_TIMEOUT_S):
            self.process.kill()
            raise AssertionError("the sandbox did not start:\n" + "\n".join(self.output[-30:]))

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            if line.strip() == f"Open {self.url}":
                self._ready.set()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def reset(self) -> None:
        answer = httpx.post(self.url + "/sandbox/reset", timeout=60, trust_env=False)
        assert answer.status_code == 200, answer.text

    def bot_api(self, method: str, **kwargs: Any) -> Any:
        """Call the fake Bot API as the bot (for what the bot itself never does, e.g. delete)."""
        config = httpx.get(self.url + "/sandbox/config", trust_env=False).json()
        url = f"{config['telegram_api_url']}/bot{config['telegram_token']}/{method}"
        answer = httpx.post(url, timeout=10, trust_env=False, **kwargs)
        assert answer.json()["ok"], answer.text
        return answer.json()["result"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    data_dir = Path(tempfile.mkdtemp(prefix="kbbr-", dir="/tmp"))
    running = SandboxProcess(data_dir)
    try:
        yield running
        assert running.stop() == 0, "\n".join(running.output[-30:])
        assert running.output[-1] == "kiebot sandbox: stopped."
        assert not any("Traceback" in line for line in running.output), "\n".join(running.output)
    finally:
        if running.process.poll() is None:
            running.process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def plain_asyncio() -> Iterator[None]:
    """Importing kiebot imports trio_asyncio, whose event loop policy would hand Playwright's sync
    API a trio-asyncio loop; a policy set in this thread makes it a plain asyncio loop again."""
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with plain_asyncio():
        manager = sync_playwright()
        playwright = manager.start()  # creates its own event loop, under the plain policy
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        manager.__exit__(None, None, None)


class Chat:
    """The page, as a person uses it."""

    def __init__(self, page: Page, sandbox: SandboxProcess) -> None:
        self.page = page
        self.sandbox = sandbox

    def open(self, query: str = "?lang=en") -> None:
        self.page.goto(self.sandbox.url + "/" + query)
        expect(self.page.locator("#app")).to_have_attribute("data-ready", "true")
        expect(self.page.locator("#bot-status")).to_have_text("bot")  # the event stream is connected

    def bot_message(self, text: str) -> Any:
        """The newest bot message showing ``text`` (waits for it)."""
        found = self.page.locator(".msg.in", has_text=text).last
        expect(found).to_be_visible()
        return found

    def say(self, text: str) -> None:
        self.page.locator("#text").fill(text)
        self.page.locator("#text").press("Enter")
        expect(self.page.locator(".msg.out", has_text=text).last).to_be_visible()

    def press(self, label: str, *, data: str | None = None) -> None:
        """Tap the newest inline button with this label (or this exact callback data)."""
        if data is not None:
            button = self.page.locator(f'.msg.in .key[data-callback="{data}"]').last
        else:
            button = self.page.locator(".msg.in .key", has_text=label).last
        button.click()

    def switch_to(self, role: str) -> None:
        self.page.locator(f'.person[data-role="{role}"]').click()
        expect(self.page.locator(f'.person[data-role="{role}"]')).to_have_attribute("aria-selected", "true")

    def attach_photo(self, data: bytes, name: str = "receipt.png") -> None:
        self.page.locator("#attach-btn").click()
        with self.page.expect_file_chooser() as chooser:
            self.page.locator('#attach-menu [data-kind="photo"]').click()
        chooser.value.set_files(files=[{"name": name, "mimeType": "image/png", "buffer": data}])

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name))


@pytest.fixture
def chat(browser: Browser, sandbox: SandboxProcess, request: pytest.FixtureRequest) -> Iterator[Chat]:
    """A fresh sandbox (reset) and a laptop-sized page that may reach nothing but the sandbox."""
    sandbox.reset()
    viewport = getattr(request, "param", LAPTOP)
    context = browser.new_context(viewport=viewport, locale="en-US", device_scale_factor=1)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    elsewhere: list[str] = []
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(sandbox.url)
            else (elsewhere.append(route.request.url), route.abort())
        ),
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        yield Chat(page, sandbox)
        assert elsewhere == [], f"the page asked for another origin: {elsewhere}"
        assert errors == [], f"errors in the page: {errors}"
    finally:
        context.close()


def rub(amount: int) -> str:
    """A ruble amount as the bot writes it in English (thousands with a comma)."""
    return f"{amount:,}\u00a0₽"


# ---- the flows of the issue ---------------------------------------------------------------------


def test_start_then_a_free_picture_from_the_catalogue(chat: Chat) -> None:
    chat.open()
    expect(chat.page.locator("#hint")).to_contain_text("Anna")
    chat.page.locator("#start-btn").click()
    menu = chat.bot_message("Main menu")
    expect(menu.locator("strong", has_text="Main menu")).to_be_visible()  # <b> from the bot, as bold
    expect(menu.locator(".key")).not_to_have_count(0)

    chat.press("Free")
    chat.bot_message("Free generations")
    chat.press("Z-Image")
    card = chat.bot_message("Z-Image")
    expect(card.locator(".meta .edited")).to_be_visible()  # the screen was edited in place
    chat.press("Start")
    chat.bot_message("Set the options")
    chat.press("Next")
    chat.bot_message("Describe what you want")
    chat.say("a red fox in the snow, watercolour")
    chat.bot_message("Check your order")
    chat.press("Run for free")

    picture = chat.page.locator('.msg.in[data-kind="photo"] img.photo').last
    expect(picture).to_be_visible()
    chat.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
    chat.bot_message("done in")
    chat.screenshot("sandbox-free-image.png")


def test_stars_top_up_shows_the_new_balance(chat: Chat) -> None:
    chat.open()
    chat.page.locator("#start-btn").click()
    chat.bot_message("Main menu")
    chat.say("/balance")
    chat.bot_message(f"Balance: {rub(WELCOME)}")
    chat.press("Top up with Stars")
    chat.bot_message("Pick a package")
    chat.press("100 ⭐", data="stars:100")
    invoice = chat.page.locator('.msg.in[data-kind="invoice"]').last
    expect(invoice.locator(".invoice-amount")).to_have_text("⭐ 100")
    invoice.locator(".key.pay").click()
    expect(chat.page.locator('.service[data-kind="successful_payment"]')).to_contain_text("100")
    chat.bot_message(f"Balance: {rub(WELCOME + 100)}")
    chat.screenshot("sandbox-stars.png")


def test_admin_approves_a_bank_transfer_top_up(chat: Chat) -> None:
    chat.open("?lang=en&as=admin")
    chat.page.locator("#start-btn").click()  # the admin has opened the bot once, in English
    chat.bot_message("Main menu")

    chat.switch_to("user")
    chat.page.locator("#start-btn").click()
    chat.bot_message("Main menu")
    chat.say("/balance")
    chat.press("Bank transfer")
    chat.bot_message("Top up by bank transfer")
    chat.press("500 ₽", data="mta:50000")
    chat.bot_message("Transfer exactly")
    chat.press("I’ve paid")
    chat.bot_message("receipt")
    chat.attach_photo(png(300, 420))
    expect(chat.page.locator('.msg.out[data-kind="photo"] img.photo')).to_be_visible()
    chat.bot_message("sent for review")
    expect(chat.page.locator('.person[data-role="admin"] .badge')).to_have_text("1")

    chat.switch_to("admin")
    request = chat.bot_message("Top-up request #1")
    expect(request.locator("img.photo")).to_be_visible()  # the receipt, re-sent by file_id
    chat.press("Approve", data="mtok:1")
    chat.bot_message("Approved — Max")
    chat.screenshot("sandbox-admin-approval.png")

    chat.switch_to("user")
    chat.bot_message(f"{rub(500)} credited")
    chat.bot_message(f"Balance: {rub(WELCOME + 500)}")


# ---- the page itself ----------------------------------------------------------------------------


def test_media_edits_and_deletions_show_live(chat: Chat, sandbox: SandboxProcess) -> None:
    chat.open()
    chat.page.locator("#start-btn").click()
    chat.bot_message("Main menu")
    video = sandbox.bot_api(
        "sendVideo",
        data={"chat_id": USER.id, "caption": "a clip"},
        files={"video": ("clip.mp4", kie_media.sample_mp4(), "video/mp4")},
    )
    sandbox.bot_api(
        "sendAudio",
        data={"chat_id": USER.id},
        files={"audio": ("tone.mp3", kie_media.sample_mp3(), "audio/mpeg")},
    )
    for kind in ("video", "audio"):
        player = chat.page.locator(f".msg.in {kind}").last
        expect(player).to_be_visible()
        # Playable in place: the browser read the file's duration (readyState >= HAVE_METADATA).
        chat.page.wait_for_function(
            "media => media.readyState >= 1 && media.duration > 0", arg=player.element_handle()
        )

    sandbox.bot_api(
        "editMessageCaption",
        json={
            "chat_id": USER.id,
            "message_id": video["message_id"],
            "caption": "<b>renamed</b> clip",
            "parse_mode": "HTML",
        },
    )
    edited = chat.page.locator(f'[data-message-id="{video["message_id"]}"]')
    expect(edited.locator("strong")).to_have_text("renamed")
    expect(edited.locator(".edited")).to_be_visible()
    sandbox.bot_api("deleteMessage", json={"chat_id": USER.id, "message_id": video["message_id"]})
    expect(edited).to_have_count(0)


@pytest.mark.parametrize("chat", [PHONE], indirect=True)
def test_phone_sized_window_and_the_reset_button(chat: Chat) -> None:
    chat.open("?lang=en")
    chat.page.locator("#start-btn").click()
    menu = chat.bot_message("Main menu")
    expect(menu.locator(".key")).not_to_have_count(0)
    overflow = chat.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a phone"
    for box in (
        menu.bounding_box(),
        chat.page.locator("#composer").bounding_box(),
        chat.page.locator(".topbar").bounding_box(),
    ):
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"] + 0.5
    chat.screenshot("sandbox-phone.png")

    chat.page.locator("#reset-btn").click()
    expect(chat.page.locator("#modal")).to_be_visible()
    chat.page.locator("#modal-ok").click()
    expect(chat.page.locator("#start-bar")).to_be_visible()
    expect(chat.page.locator("#overlay")).to_be_hidden()
    expect(chat.page.locator(".msg")).to_have_count(0)
    expect(chat.page.locator("#hint")).to_be_visible()
    chat.page.locator("#start-btn").click()
    chat.bot_message("welcome")  # a new user again: the welcome bonus is back


def test_admin_chat_opens_the_admin_panel(chat: Chat) -> None:
    chat.open("?lang=en&as=admin")
    expect(chat.page.locator("#hint")).to_contain_text(ADMIN.first_name)
    chat.page.locator("#start-btn").click()
    chat.bot_message("Main menu")
    chat.page.locator("#menu-btn").click()
    expect(chat.page.locator("#commands-menu .command-name", has_text="/start")).to_be_visible()
    chat.say("/admin")
    chat.bot_message("Admin panel")

    # The page speaks Russian too (its texts come from locales/ru/sandbox.toml).
    chat.page.locator("#lang-btn").click()
    expect(chat.page.locator("#lang-btn")).to_have_text("RU")
    expect(chat.page.locator("#text")).to_have_attribute("placeholder", "Сообщение")
    expect(chat.page.locator('.person[data-role="admin"] .label')).to_have_text(f"{ADMIN.first_name} · админ")
    expect(chat.page.locator("#toast")).to_contain_text("/lang")
