"""Scripted people: they use the bot only through the fake Telegram, like anyone with a phone.

Each step is an action (a message, a tap, a payment) and what the person expects to see after it
(a new or edited bot message that matches). Under chaos the bot may be dead, restarting, or
waiting on a database that is down, so a person waits generously and then does it again — taps
the same button, sends the command again, pays the invoice again — exactly like an impatient user.
That repetition is part of the test: a repeated tap must never cost twice.

A step that keeps getting no answer, or a button that vanished under the finger, abandons the
mission; the person goes back to the menu and carries on with the next one. Missions are counted
(done / abandoned) for the report; the money and delivery verdicts come from the audit, not from
what a person happened to see.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from kiebot.testing import media
from kiebot.testing.telegram.server import SimError, SimMessage

from .world import ChaosWorld

Match = Callable[[SimMessage], bool]

STEP_TIMEOUT_S = 12.0
"""How long a person waits for an answer before doing the same thing again."""
STEP_TRIES = 4
OUTCOME_TIMEOUT_S = 50.0
"""How long a person watches a generation before moving on (the audit checks the rest)."""
PAY_TRIES = 4

PROGRESS_MARKS = ("⏳", "🎨", "📤")
FINAL_MARKS = {"✅": "delivered", "❌": "failed", "⌛": "timed_out", "✖": "cancelled"}

FREE_MODELS = ("Z-Image", "Nano Banana —", "Imagen 4 Fast")
PAID_MODELS = ("Imagen 4 Ultra", "Imagen 4 —", "Seedream 4.5", "Grok Imagine — 6")
"""Button labels (catalogue titles, Russian UI); Grok Imagine sends a six-picture album."""
KIE_MODELS = (
    "z-image",
    "google/nano-banana",
    "google/imagen4-fast",
    "google/imagen4-ultra",
    "google/imagen4",
    "seedream/4.5-text-to-image",
    "grok-imagine/text-to-image",
)
"""The Kie ids of the models above, for the fault schedule."""


class Abandoned(Exception):
    """A mission given up (no answer after several tries, or the screen changed under the finger)."""


@dataclass
class Tally:
    """What the people did, for the summary table."""

    missions: Counter[str] = field(default_factory=Counter)
    done: Counter[str] = field(default_factory=Counter)
    abandoned: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    payments: Counter[str] = field(default_factory=Counter)
    double_taps: int = 0
    approvals: int = 0
    actions: int = 0
    trace: list[str] = field(default_factory=list)
    """One line per step, retry and mission end (printed when a run fails, or with KIEBOT_CHAOS_TRACE=1)."""

    def note(self, who: str, what: str) -> None:
        self.trace.append(f"{trio.current_time():9.2f} {who:>8} {what}")


def contains(*parts: str) -> Match:
    return lambda m: any(p in m.content for p in parts)


def same_message(message: SimMessage) -> Match:
    """The screen edited in place (any change of that message)."""
    message_id = message.message_id
    return lambda m: m.message_id == message_id


def has_data(prefix: str) -> Match:
    return lambda m: any(d.startswith(prefix) for d in m.callback_data())


class Person:
    """One user of the bot, acting through the fake Telegram with a seeded random mind."""

    def __init__(self, world: ChaosWorld, user_id: int, rng: random.Random, tally: Tally, *, name: str) -> None:
        self.world = world
        self.tg = world.tg
        self.user_id = user_id
        self.rng = rng
        self.tally = tally
        self.name = name
        self.stars_bought = 0

    # ---- seeing --------------------------------------------------------------------------------

    def _snapshot(self) -> dict[int, int]:
        if self.user_id not in self.tg.state.world.chats:
            return {}
        return {m.message_id: m.edit_count for m in self.tg.bot_messages(self.user_id)}

    def _fresh(self, snapshot: dict[int, int], match: Match) -> SimMessage | None:
        """The newest bot message sent or edited since ``snapshot`` that matches."""
        for message in reversed(self.tg.bot_messages(self.user_id)):
            if snapshot.get(message.message_id) == message.edit_count:
                continue
            if match(message):
                return message
        return None

    async def _expect(self, snapshot: dict[int, int], match: Match, wait_s: float) -> SimMessage | None:
        try:
            found: SimMessage = await self.tg.wait_for(lambda: self._fresh(snapshot, match), timeout=wait_s)
        except AssertionError:
            return None
        return found

    # ---- acting --------------------------------------------------------------------------------

    async def step(self, what: str, act: Callable[[], object], match: Match, *, wait_s: float = STEP_TIMEOUT_S) -> SimMessage:
        """Do ``act`` and wait for an answer that matches; again (up to :data:`STEP_TRIES`) if none."""
        for _ in range(STEP_TRIES):
            snapshot = self._snapshot()
            try:
                act()
            except (SimError, KeyError) as exc:  # the button is gone: the screen changed meanwhile
                raise Abandoned(f"{what}: {exc}") from None
            self.tally.actions += 1
            found = await self._expect(snapshot, match, wait_s)
            if found is not None:
                self.tally.note(self.name, f"{what}: {found.content[:60]!r}")
                return found
            self.tally.retries[what] += 1
            self.tally.note(self.name, f"{what}: no answer, again")
        raise Abandoned(f"{what}: no answer after {STEP_TRIES} tries")

    def say(self, text: str) -> Callable[[], object]:
        return lambda: self.tg.send_text(self.user_id, text)

    def tap(self, message: SimMessage, data: str) -> Callable[[], object]:
        return lambda: self.tg.tap(self.user_id, message.message_id, data)

    def tap_label(self, message: SimMessage, label: str) -> Callable[[], object]:
        return lambda: self.tg.tap_button(self.user_id, message.message_id, label)

    async def pause(self, low: float = 0.2, high: float = 1.5) -> None:
        await trio.sleep(self.rng.uniform(low, high))

    # ---- missions ------------------------------------------------------------------------------

    OPENINGS: tuple[tuple[str, ...], ...] = (
        ("manual", "free", "history"),
        ("stars", "cancel", "paid"),
        ("free", "stars", "paid"),
        ("stars", "paid", "cancel"),
        ("free", "browse", "manual"),
    )
    """Scripted first missions, by person (index modulo 5), so that every run has each kind of
    mission early on; random ones follow."""

    async def run(self, index: int) -> None:
        """Start, the person's opening missions, then random missions until cancelled."""
        await self.mission("start", self.start)
        for name in self.OPENINGS[index % len(self.OPENINGS)]:
            await self.pause()
            await self.mission(name, self.missions()[name])
        while True:
            await self.pause()
            name, fn = self.pick()
            await self.mission(name, fn)

    def missions(self) -> dict[str, Callable[[], object]]:
        return {
            "browse": self.browse,
            "history": self.history,
            "free": self.generate_free,
            "paid": self.generate_paid,
            "cancel": self.generate_and_cancel,
            "stars": self.top_up_stars,
            "manual": self.top_up_manual,
        }

    def pick(self) -> tuple[str, Callable[[], object]]:
        weights = {
            "browse": 1.0,
            "history": 0.6,
            "free": 2.0,
            "paid": 3.0 if self.stars_bought else 0.5,
            "cancel": 1.0 if self.stars_bought else 0.2,
            "stars": 0.6 if self.stars_bought else 2.5,
            "manual": 0.3,
        }
        name = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        return name, self.missions()[name]

    async def mission(self, name: str, fn: Callable[[], object]) -> None:
        self.tally.missions[name] += 1
        try:
            await fn()  # type: ignore[misc]
        except Abandoned as exc:
            self.tally.abandoned[name] += 1
            self.tally.note(self.name, f"abandoned {name}: {exc}")
        else:
            self.tally.done[name] += 1

    async def start(self) -> None:
        await self.step("/start", self.say("/start"), contains("Главное меню"))

    async def menu(self) -> SimMessage:
        return await self.step("/menu", self.say("/menu"), contains("Главное меню"))

    async def browse(self) -> None:
        menu = await self.menu()
        data, title = self.rng.choice([("cat:image", "Изображения"), ("cat:video", "Видео"), ("cat:audio", "Аудио"), ("pop:0", "Популярное")])
        section = await self.step("section", self.tap(menu, data), contains(title))
        kinds = [d for d in section.callback_data() if d.startswith(("knd:", "mdl:"))]
        if kinds:
            inner = await self.step("kind", self.tap(section, self.rng.choice(kinds)), same_message(section))
            if "menu" in inner.callback_data():
                await self.step("home", self.tap(inner, "menu"), contains("Главное меню"))

    async def history(self) -> None:
        await self.step("/history", self.say("/history"), contains("Ваши генерации", "Генераций пока нет"))

    async def balance(self) -> SimMessage:
        return await self.step("/balance", self.say("/balance"), contains("💰 Баланс"))

    async def top_up_stars(self) -> None:
        stars = self.rng.choice((50, 50, 100))
        screen = await self.balance()
        packages = await self.step("stars screen", self.tap(screen, "topup"), contains("Пополнение звёздами"))
        invoice = await self.step("invoice", self.tap(packages, f"stars:{stars}"), lambda m: m.kind == "invoice")
        for _ in range(PAY_TRIES):
            before = self._snapshot()
            try:
                result = await self.tg.pay_invoice(self.user_id, invoice.message_id)
            except SimError:  # already paid (an earlier attempt went through after all)
                self.tally.payments["already paid"] += 1
                return
            self.tally.payments[result.status] += 1
            if result.status == "paid":
                self.stars_bought += stars
                # The credit arrives with the successful_payment update (maybe after a restart).
                await self._expect(before, contains("Оплата получена", "уже зачислен"), OUTCOME_TIMEOUT_S)
                return
            await self.pause(1.0, 3.0)
        raise Abandoned("payment: never accepted")

    async def top_up_manual(self) -> None:
        kopecks = self.rng.choice((10_000, 50_000))
        screen = await self.balance()
        amounts = await self.step("manual amounts", self.tap(screen, "mt"), contains("Пополнение переводом"))
        details = await self.step("manual details", self.tap(amounts, f"mta:{kopecks}"), contains("Переведите ровно"))
        asked = await self.step("manual paid", self.tap(details, f"mtp:{kopecks}"), contains("Пришлите фото или PDF", "У вас уже"))
        if "У вас уже" in asked.content:
            return
        receipt = media.png(40, 60, (self.rng.randrange(256), 90, 90))
        await self.step("receipt", lambda: self.tg.send_photo(self.user_id, receipt), contains("отправлена на проверку", "У вас уже"))

    # ---- generations -----------------------------------------------------------------------------

    async def generate_free(self) -> None:
        menu = await self.menu()
        models = await self.step("free list", self.tap(menu, "free"), contains("Бесплатные генерации"))
        await self._order(models, self.rng.choice(FREE_MODELS))

    async def generate_paid(self, *, cancel: bool = False) -> None:
        menu = await self.menu()
        section = await self.step("images", self.tap(menu, "cat:image"), contains("Изображения"))
        listing = await self.step("text to image", self.tap_label(section, "Картинка из текста"), contains("Выберите модель"))
        await self._order(listing, self.rng.choice(PAID_MODELS), cancel=cancel)

    async def generate_and_cancel(self) -> None:
        await self.generate_paid(cancel=True)

    async def _order(self, listing: SimMessage, label: str, *, cancel: bool = False) -> None:
        for _ in range(3):  # the model may be on the next page of the list
            if any(label in str(b.get("text")) for row in listing.buttons for b in row):
                break
            if not any(str(b.get("text")) == "▶️" for row in listing.buttons for b in row):
                raise Abandoned(f"model {label!r} not listed")
            listing = await self.step("next page", self.tap_label(listing, "▶️"), same_message(listing))
        card = await self.step("card", self.tap_label(listing, label), has_data("go:"))
        screen = await self.step("begin", self.tap_label(card, "Начать"), contains("Настройте параметры", "Опишите"))
        if "Настройте параметры" in screen.content:
            screen = await self.step("params", self.tap_label(screen, "Далее"), contains("Опишите"))
        prompt = f"{self.name}: {self.rng.choice(('a lighthouse', 'a red fox', 'a tram in Lisbon', 'a cat reading'))} #{self.rng.randrange(10_000)}"
        summary = await self.step("prompt", self.say(prompt), contains("Проверьте заказ"))
        if "Не хватает" in summary.content:
            raise Abandoned("not enough money")
        confirm = next((d for d in summary.callback_data() if ":ok:" in d), None)
        if confirm is None:
            raise Abandoned("no confirm button")
        double = self.rng.random() < 0.25

        def tap_confirm() -> None:
            self.tg.tap(self.user_id, summary.message_id, confirm, force=True)
            if double:
                self.tally.double_taps += 1
                self.tg.tap(self.user_id, summary.message_id, confirm, force=True)

        answered = await self.step(
            "confirm",
            tap_confirm,
            lambda m: (m.message_id == summary.message_id and m.content.startswith((*PROGRESS_MARKS, *FINAL_MARKS)))
            or "Не хватает денег" in m.content,
        )
        if "Не хватает денег" in answered.content:
            raise Abandoned("not enough money")
        if cancel:
            cancel_data = next((d for d in answered.callback_data() if d.startswith("jcancel:")), None)
            if cancel_data is not None:
                with contextlib.suppress(SimError):  # the job moved on and the button went away
                    self.tg.tap(self.user_id, summary.message_id, cancel_data)
        self.tally.outcomes[await self._outcome(summary.message_id)] += 1

    async def _outcome(self, progress_id: int) -> str:
        """Watch the progress message until it shows how the job ended (or give up waiting)."""

        def final(message: SimMessage) -> bool:
            return message.message_id == progress_id and message.content.startswith(tuple(FINAL_MARKS))

        found = await self._expect({}, final, OUTCOME_TIMEOUT_S)
        if found is None:
            return "not seen"
        return FINAL_MARKS[found.content[0]]


class Admin:
    """The operator: approves the manual top-up requests that reach their chat (sometimes with a
    nervous double tap) and, every few seconds, the panel's list of pending requests (/admin →
    🏦 top-ups): sending a request's copy to the admins is at most once, so a Telegram fault can
    leave one that only the panel shows. A request counts as handled once the bot answered the
    tap — "credited", or "already decided" when an earlier tap went through — even if the copy's
    buttons could not be removed (that edit may have hit a Telegram fault)."""

    PANEL_EVERY_S = (6.0, 12.0)

    def __init__(self, world: ChaosWorld, rng: random.Random, tally: Tally) -> None:
        self.world = world
        self.tg = world.tg
        self.rng = rng
        self.tally = tally
        self.admin_id = world.admin_id
        self.me = Person(world, world.admin_id, rng, tally, name="admin")
        self.handled: set[int] = set()

    def _copies(self) -> list[tuple[SimMessage, int]]:
        """Request copies in the chat with an Approve button, not handled yet."""
        if self.admin_id not in self.tg.state.world.chats:
            return []
        found = []
        for message in self.tg.bot_messages(self.admin_id):
            data = next((d for d in message.callback_data() if d.startswith("mtok:")), None)
            if data is not None and int(data.split(":")[1]) not in self.handled:
                found.append((message, int(data.split(":")[1])))
        return found

    async def run(self) -> None:
        while True:
            with trio.move_on_after(self.rng.uniform(*self.PANEL_EVERY_S)):
                await self.tg.wait_for(lambda: self._copies() or None, timeout=float("inf"))
            for copy, request_id in self._copies():
                await self._approve(copy, request_id)
            try:
                await self._review_panel()
            except Abandoned as exc:
                self.tally.note("admin", f"panel: {exc}")

    async def _review_panel(self) -> None:
        home = await self.me.step("/admin", self.me.say("/admin"), has_data("adm.t"))
        label = next(str(b.get("text")) for row in home.buttons for b in row if b.get("callback_data") == "adm.t")
        if "(0)" in label:
            return
        listing = await self.me.step("top-ups", self.me.tap(home, "adm.t"), contains("Заявки на пополнение переводом"))
        for data in [d for d in listing.callback_data() if d.startswith("mtv:")]:
            request_id = int(data.split(":")[1])
            if request_id in self.handled:
                continue
            copy = await self.me.step("open request", self.me.tap(listing, data), has_data(f"mtok:{request_id}"))
            await self._approve(copy, request_id)

    async def _approve(self, copy: SimMessage, request_id: int) -> None:
        data = f"mtok:{request_id}"
        for _ in range(STEP_TRIES):
            try:
                query = self.tg.tap(self.admin_id, copy.message_id, data, force=True)
                if self.rng.random() < 0.3:
                    self.tally.double_taps += 1
                    self.tg.tap(self.admin_id, copy.message_id, data, force=True)
            except SimError:
                return  # the copy is gone
            try:
                answer = await self.tg.wait_for_callback_answer(query, timeout=STEP_TIMEOUT_S)
            except AssertionError:
                self.tally.retries["approve"] += 1
                self.tally.note("admin", f"{data}: no answer, again")
                continue
            self.handled.add(request_id)
            self.tally.approvals += 1
            self.tally.note("admin", f"{data}: {answer.text!r}")
            return
