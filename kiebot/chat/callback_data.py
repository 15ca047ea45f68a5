"""Callback data: short, plain and checked.

Telegram limits ``callback_data`` to 64 bytes (https://core.telegram.org/bots/api#inlinekeyboardbutton),
and a client can send any bytes it likes there (a stale button from last week, or a tampered one).
So buttons carry ``route:arg:arg`` in ASCII, model ids travel as a 6-character code derived from
the id (stable across restarts and registry edits), and a wizard button also carries the
conversation state's version so a button from an older screen is recognised as stale. Anything
that does not parse, names an unknown route or model, or has a stale version gets "this menu is
outdated" and a fresh menu — never an exception.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping

MAX_BYTES = 64
_ARG_RE = re.compile(r"^[A-Za-z0-9_.\-+=]*$")


class BadCallback(ValueError):
    """The data is malformed, unknown or outdated."""


def cb(route: str, *args: object) -> str:
    """Build callback data; raises ``ValueError`` when it would not fit or contains ``:``."""
    parts = [route, *(str(a) for a in args)]
    for part in parts:
        if not _ARG_RE.match(part):
            raise ValueError(f"callback part {part!r} has characters outside [A-Za-z0-9_.-+=]")
    data = ":".join(parts)
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data {data!r} exceeds {MAX_BYTES} bytes")
    return data


def parse(data: str | None) -> tuple[str, list[str]]:
    """``"md:k3x9qa:2"`` → ``("md", ["k3x9qa", "2"])``; raises :class:`BadCallback`."""
    if not data or len(data.encode()) > MAX_BYTES:
        raise BadCallback("empty or oversized")
    parts = data.split(":")
    if not all(_ARG_RE.match(p) for p in parts) or not parts[0]:
        raise BadCallback("malformed")
    return parts[0], parts[1:]


def int_arg(args: list[str], index: int, *, minimum: int = 0, maximum: int = 10**12) -> int:
    """The ``index``-th argument as an int within bounds, else :class:`BadCallback`."""
    try:
        value = int(args[index])
    except (IndexError, ValueError):
        raise BadCallback("bad integer argument") from None
    if not minimum <= value <= maximum:
        raise BadCallback("integer argument out of range")
    return value


def str_arg(args: list[str], index: int) -> str:
    try:
        return args[index]
    except IndexError:
        raise BadCallback("missing argument") from None


def model_code(model_id: str) -> str:
    """A 6-character code for a model id (32 bits of SHA-256, base32, lower case)."""
    digest = hashlib.sha256(model_id.encode()).digest()
    return base64.b32encode(digest[:5]).decode().lower()[:6]


class ModelCodes:
    """Two-way map between model ids and their callback codes; refuses a collision at start-up."""

    def __init__(self, model_ids: Iterable[str]) -> None:
        self._by_code: dict[str, str] = {}
        self._by_id: dict[str, str] = {}
        for model_id in model_ids:
            code = model_code(model_id)
            other = self._by_code.get(code)
            if other is not None and other != model_id:
                raise ValueError(f"model code collision: {model_id} and {other} both give {code}")
            self._by_code[code] = model_id
            self._by_id[model_id] = code

    def code(self, model_id: str) -> str:
        return self._by_id[model_id]

    def model(self, code: str) -> str:
        try:
            return self._by_code[code]
        except KeyError:
            raise BadCallback("unknown model code") from None

    @property
    def mapping(self) -> Mapping[str, str]:
        return self._by_code
