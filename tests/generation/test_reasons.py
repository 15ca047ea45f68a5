"""A failed job is explained to its user in one of a few words, never in Kie's (sans I/O)."""

from __future__ import annotations

import re

import pytest

from kiebot.generation.reasons import REASONS, user_reason
from kiebot.i18n import LANGS, t


@pytest.mark.parametrize(
    ("code", "detail", "reason"),
    [
        # what the submitter, the poller and the deliverer record today (generation/*.py)
        ("provider_failed", "Kie does not know this task", "nothing_back"),
        ("provider_failed", "no result files", "nothing_back"),
        ("provider_failed", "result not downloadable: HTTPStatusError", "nothing_back"),
        ("service_error", "HTTPStatusError", "provider_failed"),
        ("service_error", "Kie is not configured", "provider_failed"),
        ("input_rejected", "Kie code 422: prompt is required", "bad_input"),
        ("media_failed", "file too large", "bad_input"),
        ("media_failed", "BadRequest", "bad_input"),
        ("provider_failed", "Internal server error", "provider_failed"),
        ("provider_failed", "Generation failed, please try again later", "provider_failed"),
        ("provider_failed", "500", "provider_failed"),
        # Kie's own refusals (reference §10.5): content rules win whatever the code says
        ("provider_failed", "Content flagged by the safety filter", "content_rules"),
        ("provider_failed", "SENSITIVE_WORD_ERROR", "content_rules"),
        ("input_rejected", "Kie code 400: unsafe image upload", "content_rules"),
        ("provider_failed", "Your prompt violates our content policy", "content_rules"),
        ("provider_failed", "Failed to fetch the image", "bad_input"),
        ("provider_failed", "Only English prompts are supported at this time", "bad_input"),
        ("no_credits", "", "unavailable"),
        ("maintenance", "", "unavailable"),
        ("model_unavailable", "unknown model", "unavailable"),
        ("timeout", "deadline passed", "too_long"),
        ("undeliverable", "the user blocked the bot", "nothing_back"),
        ("result_refused", "private address (safety)", "provider_failed"),
        (None, None, "provider_failed"),
        ("something_new", "whatever", "provider_failed"),
    ],
)
def test_raw_reasons_map_to_user_reasons(code: str | None, detail: str | None, reason: str) -> None:
    assert user_reason(code, detail) == reason


@pytest.mark.parametrize("lang", LANGS)
def test_every_reason_has_words_and_no_placeholder_for_raw_text(lang: str) -> None:
    for reason in REASONS:
        text = t(lang, f"generation.reason.{reason}", detail="RAW")
        assert text != f"generation.reason.{reason}"
        assert "RAW" not in text
        assert "{" not in text


def test_russian_reasons_hold_no_latin_words() -> None:
    for reason in REASONS:
        assert not re.search("[A-Za-z]", t("ru", f"generation.reason.{reason}")), reason
