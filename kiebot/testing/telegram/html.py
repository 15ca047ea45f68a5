"""``parse_mode=HTML`` as Telegram parses it, so the fake rejects what Telegram rejects.

The Bot API counts the 4096-character text limit (1024 for captions) *after* entity parsing, and
malformed markup fails the whole call with ``Bad Request: can't parse entities: ...``
(https://core.telegram.org/bots/api#html-style). This is an independent re-implementation of the
rules of TDLib's ``parse_html`` (td/telegram/MessageEntity.cpp), with the same error texts and the
same byte offsets, for the tag subset the Bot API documents: b/strong, i/em, u/ins,
s/strike/del, code, pre (with ``<code class="language-x">``), a href, tg-spoiler /
``<span class="tg-spoiler">``, blockquote (``expandable``). Only ``&lt; &gt; &amp; &quot;`` and
numeric character references are decoded; any other ``&name;`` stays as written.

Entity offsets and lengths are in UTF-16 code units, as in ``MessageEntity``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_ENTITY_OF_TAG = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\r\n"
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.\-]+")
_BOT_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


class HtmlParseError(ValueError):
    """The text after ``Bad Request: can't parse entities: ``."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Open:
    tag: str
    argument: str
    utf16_start: int
    expandable: bool = False


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_entity(text: str, i: int) -> tuple[str, int] | None:
    """``text[i] == "&"``: the decoded character and the index after the reference, or None when
    it is not one we decode (then ``&`` is kept literally, as TDLib does)."""
    j = i + 1
    if j < len(text) and text[j] == "#":
        j += 1
        base = 10
        if j < len(text) and text[j] in "xX":
            base, j = 16, j + 1
        digits = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
        start = j
        while j < len(text) and text[j] in digits and j - start < 8:
            j += 1
        if j == start:
            return None
        code = int(text[start:j], base)
        if code > 0x10FFFF or code == 0:
            return None
        if 0xD800 <= code <= 0xDFFF:
            raise HtmlParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
    else:
        start = j
        while j < len(text) and text[j].isascii() and text[j].isalpha():
            j += 1
        name = text[start:j]
        if name not in _NAMED:
            return None
    if j < len(text) and text[j] == ";":
        j += 1
    if text[i + 1] == "#":
        return chr(code), j
    return _NAMED[name], j


def _decode_all(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            decoded = _decode_entity(value, i)
            if decoded is not None:
                out.append(decoded[0])
                i = decoded[1]
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """``"<b>hi</b> &amp; bye"`` → ``("hi & bye", [{"type": "bold", "offset": 0, "length": 2}])``.

    Raises :class:`HtmlParseError` with TDLib's wording for malformed markup.
    """
    out: list[str] = []
    utf16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "&":
            decoded = _decode_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                utf16 += utf16_len(decoded[0])
                i = decoded[1]
                continue
        if c != "<":
            out.append(c)
            utf16 += utf16_len(c)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            i = _close_tag(text, begin, i + 1, stack, entities, utf16)
            continue
        i, opened = _open_tag(text, begin, i)
        opened.utf16_start = utf16
        stack.append(opened)
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)  # a language only means something inside <pre>
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _open_tag(text: str, begin: int, i: int) -> tuple[int, _Open]:
    n = len(text)
    start = i
    while i < n and text[i] not in _SPACES and text[i] != ">":
        i += 1
    if i >= n:
        raise HtmlParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
    tag = text[start:i].lower()
    if tag not in _ENTITY_OF_TAG:
        raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}')
    opened = _Open(tag, "", 0)
    where = _byte_offset(text, begin)
    while i < n and text[i] != ">":
        while i < n and text[i] in _SPACES:
            i += 1
        if i < n and text[i] == ">":
            break
        name_start = i
        while i < n and text[i] not in _SPACES and text[i] not in "=>":
            i += 1
        name = text[name_start:i].lower()
        if not name:
            raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {where}')
        while i < n and text[i] in _SPACES:
            i += 1
        if tag == "blockquote" and name == "expandable" and (i >= n or text[i] != "="):
            opened.expandable = True
            continue
        if i >= n or text[i] != "=":
            raise HtmlParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {where}'
            )
        i += 1
        while i < n and text[i] in _SPACES:
            i += 1
        if i >= n:
            raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {where}')
        if text[i] in "'\"":
            quote = text[i]
            end = text.find(quote, i + 1)
            if end < 0:
                raise HtmlParseError(f"Unclosed start tag at byte offset {where}")
            value = _decode_all(text[i + 1 : end])
            i = end + 1
        else:
            match = _NAME_TOKEN.match(text, i)
            end = match.end() if match else i
            if end >= n or (text[end] not in _SPACES and text[end] != ">"):
                raise HtmlParseError(f"Unexpected end of name token at byte offset {_byte_offset(text, i)}")
            value = text[i:end]
            i = end
        if tag == "a" and name == "href":
            opened.argument = value
        elif tag == "code" and name == "class" and value.startswith("language-"):
            opened.argument = value[len("language-") :]
        elif tag == "span" and name == "class" and value == "tg-spoiler":
            opened.argument = "tg-spoiler"
    if tag == "span" and opened.argument != "tg-spoiler":
        raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {where}')
    return i + 1, opened


def _close_tag(
    text: str, begin: int, i: int, stack: list[_Open], entities: list[dict[str, Any]], utf16: int
) -> int:
    n = len(text)
    where = _byte_offset(text, begin)
    if not stack:
        raise HtmlParseError(f"Unexpected end tag at byte offset {where}")
    start = i
    while i < n and text[i] not in _SPACES and text[i] != ">":
        i += 1
    name = text[start:i].lower()
    while i < n and text[i] in _SPACES:
        i += 1
    if i >= n or text[i] != ">":
        raise HtmlParseError(f"Unclosed end tag at byte offset {where}")
    top = stack.pop()
    if name and name != top.tag:
        raise HtmlParseError(
            f'Unmatched end tag at byte offset {where}, expected "</{top.tag}>", found "</{name}>"'
        )
    length = utf16 - top.utf16_start
    if length > 0:
        entity = _entity_for(top, length)
        if entity is not None:
            _merge_pre_code(entity, entities)
    return i + 1


def _entity_for(opened: _Open, length: int) -> dict[str, Any] | None:
    kind = _ENTITY_OF_TAG[opened.tag]
    entity: dict[str, Any] = {"type": kind, "offset": opened.utf16_start, "length": length}
    if kind == "text_link":
        if not opened.argument:
            return None
        entity["url"] = opened.argument
    elif kind == "blockquote" and opened.expandable:
        entity["type"] = "expandable_blockquote"
    elif kind == "code" and opened.argument:
        entity["language"] = opened.argument
    return entity


def _merge_pre_code(entity: dict[str, Any], entities: list[dict[str, Any]]) -> None:
    """``<pre><code class="language-x">…</code></pre>`` is one ``pre`` entity with ``language``."""
    if entity["type"] == "pre":
        for other in entities:
            if (
                other["type"] == "code"
                and other["offset"] == entity["offset"]
                and other["length"] == entity["length"]
                and "language" in other
            ):
                entities.remove(other)
                entity["language"] = other["language"]
                break
    entities.append(entity)


def detect_bot_commands(text: str) -> list[dict[str, Any]]:
    """The ``bot_command`` entities Telegram adds to a user's text (``/start``, ``/buy@bot``)."""
    found = []
    for match in _BOT_COMMAND.finditer(text):
        found.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group()),
            }
        )
    return found
