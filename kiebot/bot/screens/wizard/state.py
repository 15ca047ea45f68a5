"""The wizard's state: what the user has chosen so far for one model, and which step comes next.

A :class:`Draft` lives in the user's conversation state (``conversation_state``, name
``"wizard"``), never in memory: a restart or another instance continues the same wizard, and an
abandoned one expires after ``FSM_STATE_TTL_S``. The state's ``version`` is the nonce carried by
every wizard button (``wz:<version>:...``), so a button from an older screen is recognised as
stale instead of acting on choices the user has since changed.

Steps, in order, each present only when the model has that input:

1. ``params`` — the button parameters (aspect, duration, sound...), prefilled with defaults;
2. ``media:<wire>`` — each file input (photos, audio, video);
3. ``user:<wire>`` — inputs only the user can give (a Sora link, an earlier Grok video);
4. ``prompt`` — the text;

then the summary. Pure: no I/O apart from :func:`load`/:func:`save`, which take a connection.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

import msgspec

from kiebot.catalog import ModelSpec
from kiebot.catalog.types import MediaSpec, ParamSpec, Scalar
from kiebot.generation.request import JobRequest, MediaRef
from kiebot.store import conversations
from kiebot.store.conversations import ConversationState
from kiebot.store.db import Conn

STATE: Final = "wizard"
PARAMS: Final = "params"
PROMPT: Final = "prompt"
SUMMARY: Final = "summary"


class Draft(msgspec.Struct, kw_only=True):
    """The user's choices for one model (wire names and wire types, as the job will store them)."""

    model: str
    #: Wizard choices and user-supplied inputs (url, task_ref), wire name → wire value.
    params: dict[str, Scalar] = msgspec.field(default_factory=dict)
    media: dict[str, list[MediaRef]] = msgspec.field(default_factory=dict)
    prompt: str | None = None
    #: Steps the user has finished (tapped Next / Done / Skip).
    done: list[str] = msgspec.field(default_factory=list)
    step: str = PARAMS
    #: Where Back from the first step leads: the catalogue screen the model card was opened from.
    origin: str = "m"
    #: Random per draft: with the state version it makes Confirm's idempotency key, unique even
    #: after an old conversation row was cleaned up and its versions start again from 1.
    nonce: str = ""

    def files(self, wire: str) -> list[MediaRef]:
        return self.media.get(wire, [])

    def mark_done(self, step: str) -> None:
        if step not in self.done:
            self.done.append(step)

    def unmark(self, step: str) -> None:
        if step in self.done:
            self.done.remove(step)

    def to_request(self, lang: str, quantity: int | None) -> JobRequest:
        return JobRequest(
            params=dict(self.params),
            prompt=self.prompt,
            media={wire: list(refs) for wire, refs in self.media.items() if refs},
            quantity=quantity,
            lang=lang,
        )


def fresh(spec: ModelSpec, origin: str) -> Draft:
    """A new draft: every button parameter at its default, first step first."""
    params: dict[str, Scalar] = {p.wire: p.default for p in spec.wizard_params if p.default is not None}
    draft = Draft(model=spec.id, params=params, origin=origin, nonce=secrets.token_hex(4))
    draft.step = next_step(spec, draft)
    return draft


def from_request(spec: ModelSpec, request: JobRequest, origin: str = "m") -> Draft:
    """A draft with every choice of an earlier job (``again`` / ``new prompt`` / ``parameters``).

    Choices the model no longer takes (the registry changed since) are dropped, so the draft
    always fits the current catalogue; missing ones come back as defaults or empty steps.
    """
    keep = {p.wire for p in spec.wizard_params} | {p.wire for p in spec.user_params}
    params: dict[str, Scalar] = {p.wire: p.default for p in spec.wizard_params if p.default is not None}
    params.update({k: v for k, v in request.params.items() if k in keep})
    media = {m.wire: list(request.media.get(m.wire, []))[: m.max_count] for m in spec.media}
    draft = Draft(model=spec.id, params=params, media=media, prompt=request.prompt, origin=origin, nonce=secrets.token_hex(4))
    draft.done = steps(spec)
    draft.step = next_step(spec, draft)
    return draft


def steps(spec: ModelSpec) -> list[str]:
    """The model's wizard steps in order (the summary is not a step)."""
    out: list[str] = [PARAMS] if spec.wizard_params else []
    out += [f"media:{m.wire}" for m in spec.media]
    out += [f"user:{p.wire}" for p in spec.user_params]
    if spec.prompt is not None:
        out.append(PROMPT)
    return out


def media_of(spec: ModelSpec, step: str) -> MediaSpec | None:
    return spec.media_input(step[6:]) if step.startswith("media:") else None


def user_param_of(spec: ModelSpec, step: str) -> ParamSpec | None:
    if not step.startswith("user:"):
        return None
    param = spec.param(step[5:])
    return param if param is not None and param.type in ("url", "task_ref") else None


def is_complete(spec: ModelSpec, draft: Draft, step: str) -> bool:
    if step == PARAMS:
        return PARAMS in draft.done
    if step == PROMPT:
        assert spec.prompt is not None
        if (draft.prompt or "").strip():
            return True
        return not spec.prompt.required and PROMPT in draft.done
    media = media_of(spec, step)
    if media is not None:
        count = len(draft.files(media.wire))
        return count >= media.min_count and (step in draft.done or count >= media.max_count)
    param = user_param_of(spec, step)
    if param is not None:
        return param.wire in draft.params
    return True


def next_step(spec: ModelSpec, draft: Draft) -> str:
    """The first unfinished step, or the summary when everything is there."""
    for step in steps(spec):
        if not is_complete(spec, draft, step):
            return step
    return SUMMARY


def previous_step(spec: ModelSpec, step: str) -> str | None:
    """The step before ``step`` (the last step for the summary); None before the first one."""
    order = steps(spec)
    if step == SUMMARY:
        return order[-1] if order else None
    if step not in order:
        return None
    index = order.index(step)
    return order[index - 1] if index > 0 else None


# ---- storage ------------------------------------------------------------------------------------


def decode(state: ConversationState) -> Draft | None:
    """The draft in a conversation state, or None when the state is not a (valid) wizard."""
    if state.state != STATE:
        return None
    try:
        return msgspec.convert(state.data, Draft)
    except msgspec.ValidationError:
        return None


def encode(draft: Draft) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(draft)
    return data


async def load(conn: Conn, user_id: int) -> tuple[Draft, int] | None:
    """The user's wizard draft and its version, or None."""
    state = await conversations.get_state(conn, user_id)
    if state is None:
        return None
    draft = decode(state)
    return None if draft is None else (draft, state.version)


async def save(conn: Conn, user_id: int, draft: Draft, *, ttl_s: float, expected: int | None) -> int:
    """Write the draft; returns the new version (the nonce of the next screen's buttons).

    ``expected`` is the version the caller read, or None to start a new wizard over whatever
    state there was (a new wizard replaces an old one).

    Raises:
        conversations.StateConflict: the state changed since ``expected`` was read.
    """
    version = conversations.ANY_VERSION if expected is None else expected
    state = await conversations.set_state(conn, user_id, STATE, encode(draft), ttl_s=ttl_s, expected_version=version)
    return state.version
