"""The admin's formatted message → the broadcast's HTML: what Telegram parses back from that HTML
is the admin's text with the admin's entities (checked with the fake server's independent
re-implementation of Telegram's HTML parser, on hand-picked and on generated messages).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kiebot.bot.screens.admin.compose import entities_to_html
from kiebot.telegram.types import MessageEntity, User
from kiebot.testing.telegram.html import parse_html, utf16_len


def entity(kind: str, offset: int, length: int, **extra: Any) -> MessageEntity:
    return MessageEntity(type=kind, offset=offset, length=length, **extra)


def key(e: dict[str, Any] | MessageEntity) -> tuple[Any, ...]:
    d = (
        e
        if isinstance(e, dict)
        else {"type": e.type, "offset": e.offset, "length": e.length, "url": e.url, "language": e.language}
    )
    return (d["type"], d["offset"], d["length"], d.get("url"), d.get("language"))


def test_plain_text_is_escaped() -> None:
    assert entities_to_html("a < b & c > d", None) == "a &lt; b &amp; c &gt; d"
    assert entities_to_html('say "hi"', []) == 'say "hi"'


def test_offsets_are_utf16_units() -> None:
    text = "😀 жирный и 🎉 курсив"
    bold = entity("bold", 3, 6)  # the emoji before counts as two units
    italic = entity("italic", utf16_len("😀 жирный и 🎉 "), 6)
    assert entities_to_html(text, [bold, italic]) == "😀 <b>жирный</b> и 🎉 <i>курсив</i>"


def test_nested_adjacent_and_special_entities() -> None:
    text = "Скидка 20% здесь: ссылка. Код x=1"
    entities = [
        entity("bold", 0, 16),
        entity("italic", 7, 3),
        entity("text_link", 18, 6, url='https://example.com/?a=1&b="2"'),
        entity("code", 26, 7),
        entity("mention", 0, 3),  # detected by Telegram itself: stays plain text
    ]
    html = entities_to_html(text, entities)
    assert html == (
        '<b>Скидка <i>20%</i> здесь</b>: <a href="https://example.com/?a=1&amp;b=&quot;2&quot;">ссылка</a>. '
        "<code>Код x=1</code>"
    )
    assert (
        entities_to_html("x", [entity("pre", 0, 1, language="python")])
        == '<pre><code class="language-python">x</code></pre>'
    )
    mention = entity("text_mention", 0, 3, user=User(id=42, is_bot=False, first_name="Ann"))
    assert entities_to_html("Ann", [mention]) == '<a href="tg://user?id=42">Ann</a>'
    assert (
        entities_to_html("q", [entity("expandable_blockquote", 0, 1)])
        == "<blockquote expandable>q</blockquote>"
    )
    assert entities_to_html("s", [entity("spoiler", 0, 1)]) == "<tg-spoiler>s</tg-spoiler>"


def test_out_of_range_entities_are_clipped_not_fatal() -> None:
    assert entities_to_html("abc", [entity("bold", 1, 10), entity("italic", 5, 2)]) == "a<b>bc</b>"


_KINDS = ("bold", "italic", "underline", "strikethrough", "spoiler", "code", "text_link", "blockquote")
_CHARS = st.sampled_from([*"abc xyz<>&\"'\n", "ж", "ы", "😀", "🎉", "€"])


@st.composite
def formatted(draw: st.DrawFn) -> tuple[str, list[MessageEntity]]:
    """A text and properly nested entities (Telegram never sends partial overlaps), no kind nested
    in itself, nothing inside ``code``, no empty entity."""
    text = draw(st.text(alphabet=_CHARS, min_size=1, max_size=40))
    size = utf16_len(text)
    # UTF-16 boundaries that do not split a surrogate pair.
    cuts = [0]
    for ch in text:
        cuts.append(cuts[-1] + (2 if ord(ch) > 0xFFFF else 1))
    out: list[MessageEntity] = []

    def fill(lo: int, hi: int, outer: frozenset[str], depth: int) -> None:
        points = [c for c in cuts if lo <= c <= hi]
        if depth > 3 or len(points) < 2:
            return
        chosen: list[MessageEntity] = []
        for _ in range(draw(st.integers(0, 2))):
            a, b = sorted(draw(st.lists(st.sampled_from(points), min_size=2, max_size=2, unique=True)))
            if any(a < e.offset + e.length and e.offset < b for e in chosen):
                continue  # siblings never overlap
            kind = draw(st.sampled_from([k for k in _KINDS if k not in outer]))
            url = "https://example.com/x?y=1&z=2" if kind == "text_link" else None
            chosen.append(entity(kind, a, b - a, url=url))
        for e in chosen:
            out.append(e)
            if e.type != "code":
                fill(e.offset, e.offset + e.length, outer | {e.type}, depth + 1)

    fill(0, size, frozenset(), 0)
    return text, out


@settings(max_examples=300, deadline=None)
@given(formatted())
def test_telegram_parses_back_what_the_admin_wrote(message: tuple[str, list[MessageEntity]]) -> None:
    text, entities = message
    parsed_text, parsed_entities = parse_html(entities_to_html(text, entities))
    assert parsed_text == text
    assert sorted(map(key, parsed_entities)) == sorted(map(key, entities))
