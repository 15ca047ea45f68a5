"""Search by typing (issue 16 item 4): the issue's examples, more spellings, wrong layouts, typos,
several words, and nonsense that must find nothing. Pure: the real registry, no I/O besides it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiebot.catalog import DEFAULT_PATH, load_registry, parse_registry
from kiebot.catalog.search import (
    MAX_QUERY_CHARS,
    MAX_QUERY_WORDS,
    Aliases,
    Brand,
    Words,
    brand_models,
    build_index,
    index_for,
    load_aliases,
    search,
)
from kiebot.catalog.search_text import close, distance, key, swap_layout, tokens

REGISTRY = load_registry()
INDEX = index_for(REGISTRY)


def found(query: str) -> list[str]:
    return search(INDEX, query)


def brand_of(prefix: str) -> set[str]:
    return {m.id for m in REGISTRY.enabled if m.id.startswith(prefix)}


def kind_of(kind: str) -> set[str]:
    return {m.id for m in REGISTRY.enabled if m.kind == kind}


# ---- the examples and their spellings ------------------------------------------------


@pytest.mark.parametrize(
    ("query", "prefix"),
    [
        ("kling", "kling"),
        ("Kling", "kling"),
        ("KLING", "kling"),
        ("клинг", "kling"),
        ("Клинг", "kling"),
        ("rkbyu", "kling"),  # «клинг» typed on the Latin layout
        ("лдштп", "kling"),  # "kling" typed on the Russian layout
        ("klnig", "kling"),  # two letters swapped
        ("klimg", "kling"),  # one letter wrong
        ("kilng", "kling"),  # two letters swapped
        ("вео", "veo"),
        ("veo", "veo"),
        ("мущ", "veo"),  # "veo" on the Russian layout
        ("suno", "suno"),
        ("сюно", "suno"),
        ("Сюно", "suno"),
        ("суно", "suno"),
        ("ыгтщ", "suno"),  # "suno" on the Russian layout
        ("sora", "sora"),
        ("сора", "sora"),
        ("хайлуо", "hailuo/"),
        ("флюкс", "flux-2/"),
        ("рекрафт", "recraft/"),
        ("грок", "grok-imagine/"),
        ("ван", "wan/"),
        ("сидрим", "seedream/"),
        ("элевенлабс", "elevenlabs/"),
        ("eleven labs", "elevenlabs/"),
        ("топаз", "topaz/"),
    ],
)
def test_a_brand_finds_exactly_its_models(query: str, prefix: str) -> None:
    assert set(found(query)) == brand_of(prefix), query


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("музыка", "music"),
        ("Музыку", "music"),  # an inflected form, one letter off
        ("песня", "music"),
        ("vepsrf", "music"),  # «музыка» on the Latin layout
        ("music", "music"),
        ("убрать фон", "background_removal"),
        ("Удалить фон", "background_removal"),
        ("remove background", "background_removal"),
        ("озвучка", "speech"),
        ("озвучить текст", "speech"),
        ("text to speech", "speech"),
        ("водяной знак", "watermark_removal"),
        ("удалить водяной знак", "watermark_removal"),
        ("убрать водяной знак", "watermark_removal"),
        ("апскейл", "upscale"),
        ("upscale", "upscale"),
        ("аватар", "avatar"),
        ("говорящий аватар", "avatar"),
    ],
)
def test_a_task_word_finds_the_models_of_that_task(query: str, kind: str) -> None:
    assert set(found(query)) == kind_of(kind), query


def test_video_lists_video_models_most_popular_first() -> None:
    hits = found("видео")
    assert len(hits) > 8  # the bot shows the first 8
    assert all(REGISTRY.require(m).category == "video" for m in hits)
    assert hits[0] == REGISTRY.by_category("video")[0].id  # the most popular first
    assert found("video") == hits


def test_a_version_narrows_a_brand_and_ranks_it_first() -> None:
    hits = found("kling 2.6")
    assert set(hits[:2]) == {"kling-2.6/text-to-video", "kling-2.6/image-to-video"}
    assert "wan/2-6-text-to-video" not in hits  # 2.6 alone does not make a Wan a Kling
    assert set(found("veo 3.1")) == brand_of("veo")
    assert set(found("клинг 2,6")[:2]) == {"kling-2.6/text-to-video", "kling-2.6/image-to-video"}  # decimal comma
    assert set(found("veo3.1")) == brand_of("veo")


def test_brand_and_task_together_narrow_to_their_intersection_first() -> None:
    hits = found("kling оживить фото")
    assert set(hits[:2]) == {"kling-2.6/image-to-video", "kling/v2-5-turbo-image-to-video-pro"}
    hits = found("нано банана редактирование")
    assert hits[0] == "google/nano-banana-edit"


def test_a_known_word_is_not_corrected_into_another_brand() -> None:
    # "imagine" is Grok's word; one edit away is "imagen" (Google), which must not show up.
    assert set(found("imagine")) == brand_of("grok-imagine/")


def test_results_are_in_score_then_catalogue_order() -> None:
    hits = found("kling")
    order = [m.id for m in REGISTRY.enabled]
    assert hits == sorted(hits, key=order.index)


# ---- nothing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "asdfgh",
        "qwerty",
        "йцукен",
        "ываыва",
        "привет",
        "кот",
        "12345",
        "midjourney",
        "!!!???",
        "🙂🙂",
        "нарисуй кота на фоне заката",
        "a cat sitting on a windowsill in the rain",
        "test",  # one letter from "text", a plain word of titles: no typo of it
        "тест",
        "a red fox",  # "red" is not the start of «редактирование»
        "red fox",
        "рыжая лиса",
    ],
)
def test_nonsense_and_prompts_find_nothing(query: str) -> None:
    assert found(query) == [], query


def test_half_the_words_must_match_one_of_them_a_brand() -> None:
    assert set(found("kling zzzz")) == brand_of("kling")  # one of two words: enough
    assert found("kling zzzz qqqq") == []  # one of three: a sentence, not a search
    assert found("фото zzzz") == []  # half, but no brand among them
    assert set(found("стереть водяной знак")) == kind_of("watermark_removal")  # two of three words


def test_long_texts_are_prompts_not_searches() -> None:
    assert found("kling " * MAX_QUERY_WORDS) != []
    assert found("kling " * (MAX_QUERY_WORDS + 1)) == []
    assert found("kling" + " " * MAX_QUERY_CHARS) == []


def test_disabled_models_are_not_in_the_index() -> None:
    # Every shipped model is on sale (issue 15): switch one off in a copy of the registry.
    marker = 'id = "wan/2-5-text-to-video"\n'
    registry = parse_registry(DEFAULT_PATH.read_text(encoding="utf-8").replace(marker, marker + "enabled = false\n", 1))
    assert [m.id for m in registry.models if not m.enabled] == ["wan/2-5-text-to-video"]
    index = index_for(registry)
    every = {model for models in index.vocabulary.values() for model in models}
    assert every == {m.id for m in registry.enabled}


# ---- the alias table ------------------------------------------------------------------------------


def test_every_alias_names_a_real_model_kind_or_category() -> None:
    aliases = load_aliases()
    for name, brand in aliases.brands.items():
        for prefix in brand.models:
            assert any(m.id.startswith(prefix) for m in REGISTRY.models), f"brand {name}: no model starts with {prefix!r}"
        assert brand.words, name
    assert set(aliases.kinds) <= set(REGISTRY.kinds)
    assert set(aliases.categories) <= {"image", "video", "audio"}


def test_every_enabled_model_has_a_brand_and_every_kind_has_words() -> None:
    aliases = load_aliases()
    branded = {m.id for brand in aliases.brands.values() for m in brand_models(brand, REGISTRY.enabled)}
    assert branded == {m.id for m in REGISTRY.enabled}
    assert set(aliases.kinds) == {m.kind for m in REGISTRY.enabled}


def test_an_alias_table_is_data() -> None:
    table = Aliases(
        brands={"moon": Brand(models=("z-image",), words=("луна",))},
        kinds={"music": Words(words=("караоке",))},
    )
    index = build_index(REGISTRY, table)
    assert search(index, "луна") == ["z-image"]
    assert search(index, "keyf") == ["z-image"]  # «луна» on the Latin layout
    assert search(index, "караоке") == ["suno-v4.5"]
    assert search(index, "сиданс") == []  # not in this table, nor in any title
    assert set(search(index, "клинг")) == {m.id for m in REGISTRY.enabled if m.id.startswith("kling")}  # titles


# ---- normalisation ------------------------------------------------------------------------------


def test_keys_agree_across_alphabets_and_spellings() -> None:
    assert key("Клинг") == key("kling") == "kling"
    assert key("сюно") == key("SUNO")
    assert key("вео") == key("Veo")
    assert key("рекрафт") == key("Recraft")
    assert key("флюкс") == key("flux")
    assert key("хайлуо") == key("Hailuo")
    assert key("ёлка") == key("елка")
    assert key("2,6") == "2.6"
    assert tokens("Kling 2.6 — оживить фото") == ["kling", "2.6", "ozhivit", "foto"]
    assert tokens("Z-Image") == ["image"]  # single letters say nothing


def test_layout_swap_both_ways() -> None:
    assert swap_layout("rkbyu") == "клинг"
    assert swap_layout("лдштп") == "kling"
    assert swap_layout("keyf") == "луна"
    assert swap_layout("kling клинг") == "kling клинг"  # mixed alphabets: not a layout slip


def test_distance_counts_a_swap_as_one_edit_and_stops_at_the_limit() -> None:
    assert distance("kling", "kling", 2) == 0
    assert distance("klnig", "kling", 2) == 1
    assert distance("klng", "kling", 2) == 1
    assert not close("klng", "kling")  # four letters: no typo allowed
    assert distance("abcdef", "uvwxyz", 2) == 3
    assert distance("a", "abcdef", 1) == 2
    assert close("klnig", "kling")
    assert not close("wan", "van")  # three letters: no typo allowed
    assert not close("2.6", "2.5")  # numbers are exact
    assert close("seedreem", "seedream")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=MAX_QUERY_CHARS))
def test_any_text_gives_enabled_models_or_nothing(text: str) -> None:
    hits = search(INDEX, text)
    assert len(hits) == len(set(hits))
    assert set(hits) <= {m.id for m in REGISTRY.enabled}
