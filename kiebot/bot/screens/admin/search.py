"""🔍 Search: the admin types what a user or a log line gave them and gets the card.

Accepted: a request id (``u123``, as logs and error reports show it), a job number (``#42``,
``j42`` or ``42``), a user id (``5000001``), a ``@username`` (with or without the ``@``), or a Kie
task id. A bare number may be both a user and a job: then both are offered. One match opens its
card at once; nothing found keeps the prompt open for another try.
"""

from __future__ import annotations

import re

from kiebot.bot.context import Ctx
from kiebot.bot.router import routes
from kiebot.bot.screens.admin.common import cancel_row, nav_row, require_admin
from kiebot.bot.screens.admin.jobcard import MAX_ID, job_button, show_job_card
from kiebot.bot.screens.admin.users import show_user_card
from kiebot.bot.screens.typed_input import expect_typed_input
from kiebot.chat.callback_data import cb
from kiebot.store import conversations, jobs, stats, users
from kiebot.store.conversations import ConversationState
from kiebot.store.jobs import Job
from kiebot.telegram.types import InlineKeyboardButton as Button
from kiebot.telegram.types import Message

STATE = "adm.search"
MAX_QUERY_CHARS = 200
MAX_RESULTS = 10
_JOB_RE = re.compile(r"^(?:#|j|№)\s*(\d{1,18})$", re.IGNORECASE)
_NUMBER_RE = re.compile(r"^\d{1,18}$")
_USERNAME_RE = re.compile(r"^@?[A-Za-z0-9_]{3,32}$")


@routes.callback("adm.s", admin=True)
async def search_prompt(ctx: Ctx, args: list[str]) -> None:
    await expect_typed_input(ctx, STATE)
    await ctx.show(ctx.t("admin.search.prompt"), [cancel_row(ctx)])


class Found:
    """What a query matched: users and jobs (a bare number may be both)."""

    def __init__(self) -> None:
        self.users: list[users.User] = []
        self.jobs: list[Job] = []

    def add_user(self, user: users.User | None) -> None:
        if user is not None and all(u.user_id != user.user_id for u in self.users):
            self.users.append(user)

    def add_job(self, job: Job | None) -> None:
        if job is not None and all(j.id != job.id for j in self.jobs):
            self.jobs.append(job)

    @property
    def count(self) -> int:
        return len(self.users) + len(self.jobs)


async def find(ctx: Ctx, query: str) -> Found:
    """Everything ``query`` names; see the module docstring for the accepted forms."""
    found = Found()
    query = query.strip()
    if not query:
        return found
    async with ctx.conn() as conn:
        job_match = _JOB_RE.match(query)
        if job_match is not None:
            number = int(job_match.group(1))
            if number <= MAX_ID:
                found.add_job(await jobs.get_job(conn, number))
            return found
        if _NUMBER_RE.match(query) and int(query) <= MAX_ID:
            number = int(query)
            found.add_user(await users.get_user(conn, number))
            found.add_job(await jobs.get_job(conn, number))
        for job_id in await stats.job_ids_by_request_id(conn, query, MAX_RESULTS):
            found.add_job(await jobs.get_job(conn, job_id))
        found.add_job(await jobs.find_by_task_id(conn, query))
        if _USERNAME_RE.match(query) and not _NUMBER_RE.match(query):
            found.add_user(await users.find_by_username(conn, query))
    return found


@routes.state(STATE)
async def search_input(ctx: Ctx, state: ConversationState, message: Message) -> None:
    await require_admin(ctx)
    query = (message.text or "").strip()
    if not query or len(query) > MAX_QUERY_CHARS:
        await ctx.send(ctx.t("admin.search.bad_query", limit=MAX_QUERY_CHARS), [cancel_row(ctx)])
        return
    found = await find(ctx, query)
    if found.count == 0:
        await ctx.send(ctx.t("admin.search.nothing", query=query), [cancel_row(ctx)])
        return
    async with ctx.conn() as conn:
        await conversations.clear_state(conn, ctx.user_id)
    if found.count == 1 and found.users:
        await show_user_card(ctx, found.users[0].user_id)
        return
    if found.count == 1:
        await show_job_card(ctx, found.jobs[0].id)
        return
    rows: list[list[Button]] = [
        [
            Button.callback(
                ctx.t("admin.search.user_button", name=u.first_name, id=u.user_id), cb("adm.u", u.user_id)
            )
        ]
        for u in found.users
    ]
    rows += [[job_button(ctx, j)] for j in found.jobs]
    rows.append(nav_row(ctx))
    await ctx.send(ctx.t("admin.search.several", query=query, n=found.count), rows)
