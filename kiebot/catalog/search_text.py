"""How typed words are made comparable: case, ё, keyboard layout, Cyrillic/Latin spelling, typos.

People type a model's name the way they heard it ("клинг", "сюно", "вео"), with the keyboard in
the wrong layout ("rkbyu" is «клинг» typed on a Latin layout, "лдштп" is "kling" typed on a
Russian one), in any case, with ё or е, and with a slip of the finger ("klnig"). Every word of the
catalogue and of a query is therefore reduced to one *key*: casefolded, ё → е, transliterated to
Latin, and simplified so that the spellings people mix up agree (c/k, w/v, y/i, doubled letters).
A query word is tried as typed and with its layout swapped; :func:`close` allows a small
Damerau–Levenshtein distance that grows with the word's length.

Pure functions over strings; no I/O.
"""

from __future__ import annotations

import re
from typing import Final

# ЙЦУКЕН ↔ QWERTY, key for key (the keys that carry letters in either layout).
_LATIN_KEYS: Final = "`qwertyuiop[]asdfghjkl;'zxcvbnm,."
_CYRILLIC_KEYS: Final = "ёйцукенгшщзхъфывапролджэячсмитьбю"
_TO_CYRILLIC: Final = str.maketrans(_LATIN_KEYS, _CYRILLIC_KEYS)
_TO_LATIN: Final = str.maketrans(_CYRILLIC_KEYS, _LATIN_KEYS)

# Russian → Latin as people hear brand names: х is the h of "hailuo", ю the u of "suno" («сюно»),
# й the i of "hailuo" («хайлуо»); soft and hard signs vanish.
_TRANSLIT: Final = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
        "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
        "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sh",
        "ъ": "", "ы": "i", "ь": "", "э": "e", "ю": "u", "я": "a",
    }
)  # fmt: skip
# Latin spellings that sound alike collapse: "recraft" = «рекрафт», "wan" = «ван», "flux" = «флюкс».
_SIMPLIFY: Final = (("ph", "f"), ("ck", "k"), ("c", "k"), ("q", "k"), ("w", "v"), ("x", "ks"), ("y", "i"))
_DOUBLED: Final = re.compile(r"([a-z])\1+")
_TOKEN: Final = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*")


def swap_layout(word: str) -> str:
    """The word as it would read in the other keyboard layout ("rkbyu" → "клинг", "лдштп" → "kling").

    A word mixing both alphabets is returned unchanged: a wrong layout gives one alphabet only.
    """
    if any("a" <= ch <= "z" for ch in word) and any("а" <= ch <= "я" or ch == "ё" for ch in word):
        return word
    if any("а" <= ch <= "я" or ch == "ё" for ch in word):
        return word.translate(_TO_LATIN)
    return word.translate(_TO_CYRILLIC)


def key(token: str) -> str:
    """The comparison key of one token: "Клинг" → "kling", "Seedream" → "sedream", "2,6" → "2.6"."""
    word = token.casefold().replace("ё", "е").translate(_TRANSLIT).replace(",", ".")
    if word[:1].isdigit():
        return word
    for old, new in _SIMPLIFY:
        word = word.replace(old, new)
    return _DOUBLED.sub(r"\1", word)


def tokens(text: str) -> list[str]:
    """The keys of the words and numbers of ``text`` ("Kling 2.6 — оживить фото" →
    ["kling", "2.6", "ozhivit", "foto"]); a single letter carries no meaning and is dropped."""
    return [key(raw) for raw in _TOKEN.findall(text.casefold().replace("ё", "е")) if len(raw) > 1 or raw.isdigit()]


def query_words(text: str) -> list[tuple[list[str], list[str]]]:
    """Each whitespace-separated word of a query as typed and with its layout swapped, as keys.

    The swap happens before splitting into tokens, because the keys that are punctuation in one
    layout are letters in the other ("ьгышс" ← "music"... and "б" ← ",").
    """
    out = []
    for word in text.casefold().split():
        out.append((tokens(word), tokens(swap_layout(word))))
    return out


def allowed_typos(length: int) -> int:
    """Edits forgiven in a word of ``length`` letters: none up to 4 (too many short words lie one
    edit apart: "wan"/"van", "test"/"text", "suno"/"sono"), one up to 7, two from 8."""
    if length <= 4:
        return 0
    return 1 if length <= 7 else 2


def distance(a: str, b: str, limit: int) -> int:
    """Damerau–Levenshtein distance (optimal string alignment: a swap of two neighbours is one
    edit), or ``limit + 1`` as soon as it is certain to exceed ``limit`` — the bound keeps a search
    over the whole vocabulary cheap."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def close(query: str, word: str) -> bool:
    """Whether ``query`` is ``word`` with a typo or two (numbers must be exact)."""
    if query[:1].isdigit() or word[:1].isdigit():
        return False
    limit = allowed_typos(min(len(query), len(word)))
    return limit > 0 and distance(query, word, limit) <= limit
