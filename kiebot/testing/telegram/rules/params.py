"""Reading Bot API parameters the four ways Telegram accepts them.

https://core.telegram.org/bots/api#making-requests: a query string, ``x-www-form-urlencoded``,
``application/json`` and ``multipart/form-data`` (the only one that can carry files). In a JSON
body a JSON-serialized parameter (``reply_markup``, ``media``, ``prices``, ``allowed_updates``...)
is a plain JSON value; in the other three it is a string holding JSON. Files sit in multipart parts,
either under the parameter's own name or under any name referenced as ``attach://<name>``.

:class:`Params` gives typed access with Telegram's error texts, so every method handler stays short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from kiebot.testing.telegram.rules.errors import BotApiError, bad_request
from kiebot.testing.telegram.rules.spec import LEGACY_PARAMS, METHOD_PARAMS

_json_decode = msgspec.json.Decoder().decode
_TRUE = {"true", "1", "True", "TRUE", "yes"}
_FALSE = {"false", "0", "False", "FALSE", "no", ""}


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    data: bytes
    filename: str
    content_type: str


@dataclass
class Params:
    """The parameters of one call. ``values`` holds native JSON values when the body was JSON and
    strings otherwise (``native_json`` says which)."""

    values: dict[str, Any]
    files: dict[str, Upload]
    native_json: bool
    content_type: str = ""

    def has(self, name: str) -> bool:
        return name in self.values or name in self.files

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str, *, required: bool = False) -> str | None:
        """A String parameter; numbers are accepted and turned into text, as Telegram does."""
        value = self.values.get(name)
        if value is None:
            if required:
                raise missing(name)
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
        raise bad_request(f'field "{name}" must be of type String')

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return None
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be a valid Number')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad_request(f'field "{name}" must be a valid Number')

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str) and value in _TRUE:
            return True
        if isinstance(value, str) and value in _FALSE:
            return False
        raise bad_request(f'field "{name}" must be of type Boolean')

    def json(self, name: str, what: str | None = None) -> Any:
        """A JSON-serialized parameter: a native value in a JSON body, a string holding JSON
        anywhere (Telegram parses the string form in JSON bodies too)."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        try:
            return _json_decode(value.encode())
        except msgspec.DecodeError:
            raise bad_request(f"can't parse {what or name} JSON object") from None

    def chat_id(self) -> int | str:
        """``chat_id``: an Integer, or ``@username`` (channels and groups only)."""
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, bool):
            raise bad_request("chat not found")
        if isinstance(value, int):
            return value
        text = str(value).strip()
        try:
            return int(text)
        except ValueError:
            if text.startswith("@"):
                return text
            raise bad_request("chat not found") from None

    def attached(self, reference: str) -> Upload | None:
        """The upload a ``attach://name`` reference points to, or None."""
        if reference.startswith("attach://"):
            return self.files.get(reference[len("attach://") :])
        return None


def missing(name: str) -> BotApiError:
    return bad_request(f'parameter "{name}" is required')


def parse_body(body: bytes) -> dict[str, Any]:
    """A JSON body must be an object; anything else is refused as Telegram refuses it."""
    if not body.strip():
        return {}
    try:
        value = _json_decode(body)
    except msgspec.DecodeError:
        raise bad_request("can't parse JSON object") from None
    if not isinstance(value, dict):
        raise bad_request("JSON object expected")
    return value


def unknown_parameters(method: str, params: Params) -> list[str]:
    """Names the Bot API does not define for ``method`` (files referenced by ``attach://`` are not
    parameters and are not counted)."""
    spec = METHOD_PARAMS.get(method)
    if spec is None:
        return []
    known = set(spec[0]) | set(spec[1]) | set(LEGACY_PARAMS.get("*", ()))
    return sorted(name for name in params.values if name not in known)
