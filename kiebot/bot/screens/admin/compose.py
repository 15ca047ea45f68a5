"""A message's formatting as HTML: what the admin typed (bold, links, spoilers…) becomes the
broadcast's ``parse_mode=HTML`` text, so users see exactly what the admin wrote and previewed.

Telegram delivers formatting as entities with offsets and lengths in UTF-16 code units
(https://core.telegram.org/bots/api#messageentity); entities nest but never partly overlap.
The HTML subset is Telegram's own (https://core.telegram.org/bots/api#html-style). Entities
Telegram detects by itself (mentions, hashtags, plain URLs, commands) stay plain text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from kiebot.telegram.types import MessageEntity

_SIMPLE_TAGS = {
    "bold": "b",
    "italic": "i",
    "underline": "u",
    "strikethrough": "s",
    "spoiler": "tg-spoiler",
    "code": "code",
}


def _tags(entity: MessageEntity) -> tuple[str, str] | None:
    """The opening and closing tag for one entity, or None for a kind kept as plain text."""
    kind = entity.type
    if kind in _SIMPLE_TAGS:
        tag = _SIMPLE_TAGS[kind]
        return f"<{tag}>", f"</{tag}>"
    if kind == "pre":
        if entity.language:
            return f'<pre><code class="language-{html.escape(entity.language)}">', "</code></pre>"
        return "<pre>", "</pre>"
    if kind == "text_link" and entity.url:
        return f'<a href="{html.escape(entity.url)}">', "</a>"
    if kind == "text_mention" and entity.user is not None:
        return f'<a href="tg://user?id={entity.user.id}">', "</a>"
    if kind == "blockquote":
        return "<blockquote>", "</blockquote>"
    if kind == "expandable_blockquote":
        return "<blockquote expandable>", "</blockquote>"
    if kind == "custom_emoji" and entity.custom_emoji_id:
        return f'<tg-emoji emoji-id="{html.escape(entity.custom_emoji_id)}">', "</tg-emoji>"
    return None


def entities_to_html(text: str, entities: Sequence[MessageEntity] | None) -> str:
    """``text`` with its ``entities`` as Telegram HTML; everything else escaped."""
    units = text.encode("utf-16-le")
    size = len(units) // 2
    spans: list[tuple[int, int, str, str]] = []
    for entity in entities or ():
        tags = _tags(entity)
        start = max(0, entity.offset)
        end = min(size, entity.offset + entity.length)
        if tags is not None and start < end:
            spans.append((start, end, *tags))
    # Outer entities first: earlier start, then longer.
    spans.sort(key=lambda s: (s[0], -s[1]))
    out: list[str] = []
    open_stack: list[tuple[int, str]] = []  # (end, closing tag)
    position = 0

    def chunk(a: int, b: int) -> str:
        return html.escape(units[a * 2 : b * 2].decode("utf-16-le", errors="replace"), quote=False)

    def close_until(limit: int) -> None:
        nonlocal position
        while open_stack and open_stack[-1][0] <= limit:
            end, closing = open_stack.pop()
            out.append(chunk(position, end))
            position = end
            out.append(closing)

    for start, end, opening, closing in spans:
        close_until(start)
        if open_stack and end > open_stack[-1][0]:
            end = open_stack[-1][0]  # a partial overlap Telegram never sends: clip it to stay valid
        out.append(chunk(position, start))
        position = start
        out.append(opening)
        open_stack.append((end, closing))
    close_until(size)
    out.append(chunk(position, size))
    return "".join(out)
