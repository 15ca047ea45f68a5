"""The fake's HTML parse mode against TDLib's own test cases (td/test/message_entities.cpp,
``TEST(MessageEntities, parse_html)``): same error texts, same byte offsets, same entities."""

from __future__ import annotations

import pytest

from kiebot.testing.telegram.html import HtmlParseError, detect_bot_commands, parse_html, utf16_len

ERRORS = [
    (
        "&#57311;",
        "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units",
    ),
    ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
    ("🏟 🏟&lt;<abac>", 'Unsupported start tag "abac" at byte offset 13'),
    ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
    (
        "🏟 🏟&lt;<i    aba>",
        'Expected equal sign in declaration of an attribute of the tag "i" at byte offset 13',
    ),
    ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
    ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
    ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
    ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
    ("🏟 🏟&lt;<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"'),
    ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
    ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
]


@pytest.mark.parametrize(("html", "message"), ERRORS)
def test_malformed_html_fails_with_tdlib_wording(html: str, message: str) -> None:
    with pytest.raises(HtmlParseError) as caught:
        parse_html(html)
    assert str(caught.value) == message


PARSED = [
    ("➡️ ➡️<i>➡️ ➡️</i>", "➡️ ➡️➡️ ➡️", [("italic", 5, 5)]),
    ("➡️ ➡️<b>➡️ ➡️</b>", "➡️ ➡️➡️ ➡️", [("bold", 5, 5)]),
    ("➡️ ➡️<strong>➡️ ➡️</strong>", "➡️ ➡️➡️ ➡️", [("bold", 5, 5)]),
    ("➡️ ➡️<u>➡️ ➡️</u>", "➡️ ➡️➡️ ➡️", [("underline", 5, 5)]),
    ("➡️ ➡️<s>➡️ ➡️</s>", "➡️ ➡️➡️ ➡️", [("strikethrough", 5, 5)]),
    ("➡️ ➡️<i>➡️ ➡️</i><b>➡️ ➡️</b>", "➡️ ➡️➡️ ➡️➡️ ➡️", [("italic", 5, 5), ("bold", 10, 5)]),
    ("🏟 🏟<i>🏟 &lt🏟</i>", "🏟 🏟🏟 <🏟", [("italic", 5, 6)]),
    ("🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>", "🏟 🏟🏟 ><🏟", [("italic", 5, 7), ("bold", 9, 3)]),
    ("🏟 🏟&lt;<i    aba  =  190azAz-.   >a</i>", "🏟 🏟<a", [("italic", 6, 1)]),
    ("🏟 🏟&lt;<i>🏟 🏟&lt;</>", "🏟 🏟<🏟 🏟<", [("italic", 6, 6)]),
    ("🏟 🏟&lt;<b></b>", "🏟 🏟<", []),
    ("&lt;&gt;&amp;&quot;&laquo;&raquo;&#12345678;", '<>&"&laquo;&raquo;&#12345678;', []),
    ("<tg-spoiler>x</tg-spoiler>", "x", [("spoiler", 0, 1)]),
    ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
]


@pytest.mark.parametrize(("html", "text", "entities"), PARSED)
def test_well_formed_html_gives_text_and_utf16_entities(
    html: str, text: str, entities: list[tuple[str, int, int]]
) -> None:
    parsed, found = parse_html(html)
    assert parsed == text
    assert [(e["type"], e["offset"], e["length"]) for e in found] == entities


def test_links_and_code_languages_are_kept() -> None:
    text, entities = parse_html(
        '<a href="https://x.test/?a&amp;b">go</a> <pre><code class="language-py">x=1</code></pre>'
    )
    assert text == "go x=1"
    assert entities == [
        {"type": "text_link", "offset": 0, "length": 2, "url": "https://x.test/?a&b"},
        {"type": "pre", "offset": 3, "length": 3, "language": "py"},
    ]


def test_bot_commands_are_detected_like_telegram_clients_mark_them() -> None:
    text = "/start ref_42 then /help@kiebot_test_bot but not a/b"
    found = detect_bot_commands(text)
    assert [(e["offset"], e["length"]) for e in found] == [(0, 6), (19, len("/help@kiebot_test_bot"))]
    assert utf16_len("🏟") == 2
