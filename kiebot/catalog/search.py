"""Find models by typing: "kling", «клинг», «вео», «сюно», «музыка», «убрать фон», "озвучка".

A pure function over the catalogue. :func:`build_index` turns the registry's enabled models into
a vocabulary of word keys (:mod:`kiebot.catalog.search_text`), each weighted by where it came
from — a brand name (3) says more than a task word or kind name (2), than a word of a title (1.5),
than a broad word such as «видео» (1). The words besides titles and kind names live in
``search_aliases.toml`` beside this module, as data.

:func:`search` scores every model by the query's words: each word counts once, by its best match
(exact 1, the start of a word 0.9 — at least 4 letters and half the word, so "red" is not
«редактирование» — a typo 0.75 — typos only of brand and task words, and only for words the
vocabulary does not know as typed, so "imagine" finds Grok, not Imagen too, and "test" is not
"text"), times the weight. A model qualifies when every word of the
query matches it, or at least half do and either two of them or its brand ("kling пожалуйстаа",
«удалить водяной знак»; but "a red fox" is a prompt, not a search), and is kept when it scores at least 60 % of the best model: «убрать фон» lists the background remover, not every model whose title says «убрать».
Nonsense matches nothing, and so does a long text (more than :data:`MAX_QUERY_WORDS` words, or
:data:`MAX_QUERY_CHARS` characters): that is a prompt sent outside a wizard, not a search, and
the limit bounds the work one message can cause.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import msgspec

from kiebot.catalog.search_text import close, query_words, tokens
from kiebot.catalog.texts import category_label, kind_label
from kiebot.catalog.types import ModelSpec, Registry

ALIASES_PATH: Final = Path(__file__).with_name("search_aliases.toml")
MAX_QUERY_WORDS: Final = 8
MAX_QUERY_CHARS: Final = 100
#: A model must match at least this share of the query's words...
MIN_COVERAGE: Final = 0.5
#: ...and score at least this share of the best model's score.
RELATIVE_CUTOFF: Final = 0.6

BRAND_WEIGHT: Final = 3.0
KIND_WEIGHT: Final = 2.0
TITLE_WEIGHT: Final = 1.5
CATEGORY_WEIGHT: Final = 1.0
_EXACT, _PREFIX, _TYPO = 1.0, 0.9, 0.75
_MIN_PREFIX: Final = 4

#: Words that say nothing about which model ("хочу видео про кота" is about «видео»).
STOP_WORDS: Final = frozenset(
    tokens(
        "в во на и с со из для по до к от за о об а не но мне меня мой моя хочу хочется нужно нужна нужен "
        "надо сделать сделай сделайте можно как где какой какая есть модель модели нейросеть нейросети "
        "бот пожалуйста через "
        "the a an to of for from and with in on by my me i want need make please model models ai "
        "can how is are"
    )
)


class Brand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    models: tuple[str, ...]
    words: tuple[str, ...]


class Words(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    words: tuple[str, ...]


class Aliases(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``search_aliases.toml``: brands by model id prefix, task words by kind, broad words by category."""

    brands: dict[str, Brand] = {}
    kinds: dict[str, Words] = {}
    categories: dict[str, Words] = {}


@lru_cache(maxsize=4)
def load_aliases(path: Path = ALIASES_PATH) -> Aliases:
    with path.open("rb") as fh:
        return msgspec.convert(tomllib.load(fh), Aliases)


def brand_models(brand: Brand, models: Iterable[ModelSpec]) -> list[ModelSpec]:
    return [m for m in models if any(m.id.startswith(prefix) for prefix in brand.models)]


@dataclass(frozen=True)
class SearchIndex:
    """Word key → {model id → weight}, and the models in the catalogue's order (most popular first)."""

    vocabulary: Mapping[str, Mapping[str, float]]
    order: Mapping[str, int]
    #: Words a typo may stand for: brand and task words only. A title's plain words are too
    #: close to everyday ones ("test" is one letter from "text").
    typo_words: frozenset[str]


def build_index(registry: Registry, aliases: Aliases | None = None) -> SearchIndex:
    """The index of the registry's enabled models (titles and kind names in both languages, plus
    the alias table)."""
    table = aliases if aliases is not None else load_aliases()
    models = registry.enabled
    vocabulary: dict[str, dict[str, float]] = {}

    def add(model: ModelSpec, texts: Iterable[str], weight: float) -> None:
        for text in texts:
            for token in tokens(text):
                if token in STOP_WORDS:
                    continue
                slot = vocabulary.setdefault(token, {})
                slot[model.id] = max(slot.get(model.id, 0.0), weight)

    for brand in table.brands.values():
        for model in brand_models(brand, models):
            add(model, brand.words, BRAND_WEIGHT)
    for model in models:
        add(model, (model.title.ru, model.title.en), TITLE_WEIGHT)
        add(model, (kind_label(model.kind, "ru"), kind_label(model.kind, "en")), KIND_WEIGHT)
        kind_words = table.kinds.get(model.kind)
        if kind_words is not None:
            add(model, kind_words.words, KIND_WEIGHT)
        add(model, (category_label(model.category, "ru"), category_label(model.category, "en")), CATEGORY_WEIGHT)
        category_words = table.categories.get(model.category)
        if category_words is not None:
            add(model, category_words.words, CATEGORY_WEIGHT)
    typo_words = frozenset(word for word, weights in vocabulary.items() if max(weights.values()) >= KIND_WEIGHT)
    return SearchIndex(vocabulary=vocabulary, order={m.id: i for i, m in enumerate(models)}, typo_words=typo_words)


@lru_cache(maxsize=4)
def index_for(registry: Registry) -> SearchIndex:
    """The index of a loaded registry, built once (a registry is immutable once loaded)."""
    return build_index(registry)


def _matches(index: SearchIndex, key: str) -> dict[str, float]:
    """Vocabulary words matching one query word key, with the quality of each match."""
    found: dict[str, float] = {}
    if key in index.vocabulary:
        found[key] = _EXACT
    for word in index.vocabulary:
        if word == key:
            continue
        if key[:1].isdigit():
            if word.startswith(key + "."):
                found[word] = _PREFIX
        elif len(key) >= _MIN_PREFIX and 2 * len(key) >= len(word) and word.startswith(key):
            found[word] = _PREFIX
    if found:
        return found
    return {word: _TYPO for word in index.typo_words if close(key, word)}


def _word_scores(index: SearchIndex, variants: Sequence[list[str]]) -> list[dict[str, float]]:
    """For one typed word (as typed, layout swapped): per token, model id → best score.

    The variant that matches more of the vocabulary wins, so "rkbyu" is read as «клинг».
    """
    if any(keys and all(key in STOP_WORDS for key in keys) for keys in variants):
        return []  # "to", «для»: not a word to match (its other layout is gibberish, not a miss)
    best: list[dict[str, float]] = []
    best_total = 0.0
    for keys in variants:
        per_token = []
        for key in keys:
            if key in STOP_WORDS:
                continue
            scores: dict[str, float] = {}
            for word, quality in _matches(index, key).items():
                for model_id, weight in index.vocabulary[word].items():
                    scores[model_id] = max(scores.get(model_id, 0.0), quality * weight)
            per_token.append(scores)
        total = sum(max(s.values(), default=0.0) for s in per_token)
        if total > best_total or (not best and per_token):
            best, best_total = per_token, total
    return best


def search(index: SearchIndex, query: str) -> list[str]:
    """Model ids matching ``query``, best first (ties in the catalogue's order); [] for nothing."""
    if len(query) > MAX_QUERY_CHARS:
        return []
    words = query_words(query)
    if len(words) > MAX_QUERY_WORDS:
        return []
    per_token: list[dict[str, float]] = []
    for typed, swapped in words:
        per_token.extend(_word_scores(index, [typed, swapped]))
    if not per_token:
        return []
    totals: dict[str, float] = {}
    hits: dict[str, int] = {}
    for scores in per_token:
        for model_id, score in scores.items():
            totals[model_id] = totals.get(model_id, 0.0) + score
            hits[model_id] = hits.get(model_id, 0) + 1
    needed = MIN_COVERAGE * len(per_token)
    branded = {m for scores in per_token for m, score in scores.items() if score >= BRAND_WEIGHT * _TYPO}
    qualified = {
        m: s
        for m, s in totals.items()
        if hits[m] == len(per_token) or (hits[m] >= needed and (hits[m] >= 2 or m in branded))
    }
    if not qualified:
        return []
    floor = RELATIVE_CUTOFF * max(qualified.values())
    kept = [m for m, s in qualified.items() if s >= floor]
    return sorted(kept, key=lambda m: (-qualified[m], index.order[m]))
