"""The fake Telegram's world kept across sandbox runs, next to the bot's database.

The sandbox keeps its PostgreSQL between runs (``--reset`` starts clean), so the bot remembers
Anna's balance, her wizard, the progress message it will edit and the admins' copies of a
top-up request. Real Telegram keeps the chat too; the in-memory fake does not. Without this the
page would show an empty chat to a bot that remembers everything, and every stored ``file_id`` and
``message_id`` would point at nothing (history re-sends fail, edits hit the wrong message).

So the people, the chats with every message, the files and the Stars book are pickled to
``<data dir>/telegram.pickle`` (written atomically, every few seconds while something changes, and
on stop) and restored at start. The update counter continues too: Telegram never reuses an
``update_id``, and the bot's inbox drops a repeated one as a duplicate
(https://core.telegram.org/bots/api#getting-updates).

Only this sandbox writes the file, in the user's own data directory, so unpickling it trusts no
one else. A snapshot written by another version of the fake (its classes' fields differ) or an
unreadable one is set aside with a warning: the sandbox then starts with empty chats.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import fields
from pathlib import Path
from typing import Any, Final

from kiebot.testing.telegram.model.stars import Invoice, Payment
from kiebot.testing.telegram.model.state import State
from kiebot.testing.telegram.model.world import SimChat, SimFile, SimMessage, SimUser

log = logging.getLogger(__name__)

FORMAT: Final = 1
FILE_NAME: Final = "telegram.pickle"


def _shape() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The field names of every class in a snapshot: a changed class makes old snapshots unusable."""
    classes: tuple[type[Any], ...] = (SimUser, SimFile, SimMessage, SimChat, Invoice, Payment)
    return tuple((cls.__name__, tuple(f.name for f in fields(cls))) for cls in classes)


def save(state: State, path: Path, *, next_update_id: int) -> None:
    """Write the world to ``path`` (atomically: a crash leaves the previous snapshot)."""
    stars = state.stars
    data = {
        "format": FORMAT,
        "shape": _shape(),
        "users": state.world.users,
        "chats": state.world.chats,
        "files": state.world.files.by_id,
        "stars": {
            "links": stars.links,
            "by_message": stars.by_message,
            "payments": stars.payments,
            "by_charge": stars.by_charge,
            "transactions": stars.transactions,
        },
        "next_update_id": next_update_id,
    }
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as file:
        pickle.dump(data, file, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)


def restore(state: State, path: Path) -> int:
    """Load a snapshot into ``state`` (before the fake serves); returns the next ``update_id`` it
    recorded, or 1 when there is none or it cannot be used."""
    if not path.exists():
        return 1
    try:
        with path.open("rb") as file:
            data = pickle.load(file)
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("shape") != _shape():
            raise ValueError("written by another version of the fake Telegram")
        users, chats, files, stars = data["users"], data["chats"], data["files"], data["stars"]
        next_update_id = int(data["next_update_id"])
    except (
        OSError,
        EOFError,
        pickle.UnpicklingError,
        AttributeError,
        ImportError,
        KeyError,
        TypeError,
        ValueError,
    ) as exc:
        aside = path.with_name(path.name + ".unusable")
        os.replace(path, aside)
        log.warning(
            "sandbox chats not restored; starting with empty chats",
            extra={"reason": str(exc), "kept_as": str(aside)},
        )
        return 1
    for file in files.values():
        file.file_path = None  # getFile hands out new download paths; the old ones died with the process
    state.world.users = users
    state.world.chats = chats
    state.world.files.by_id = files
    book = state.stars
    book.links, book.by_message, book.payments = stars["links"], stars["by_message"], stars["payments"]
    book.by_charge, book.transactions = stars["by_charge"], stars["transactions"]
    log.info("sandbox chats restored", extra={"chats": len(chats), "files": len(files)})
    return max(1, next_update_id)
